// The workflow graph (a Mermaid-style flow in SVG) and the timeline, drawn to scale.

import { badge, formatDuration, formatTime, h, s } from './dom.js'
import { ACTIVE, runHref, state } from './state.js'

// ---------------------------------------------------------------- graph (Mermaid-style flow, LR)

export function graph(view) {
  const nodes = view.graph
  const charWidth = 7
  const height = 40
  const gap = 46
  const y = 24
  const boxes = []
  let x = 46
  for (const node of nodes) {
    const label = node.name.length > 28 ? `${node.name.slice(0, 27)}…` : node.name
    const width = Math.max(90, label.length * charWidth + 32)
    boxes.push({ node, label, x, width })
    x += width + gap
  }
  const total = x + 10
  const svg = s('svg', {
    class: 'graph',
    width: total,
    height: height + 48,
    viewBox: `0 0 ${total} ${height + 48}`,
    role: 'img',
    'aria-label': 'workflow graph',
  })
  const defs = s('defs')
  for (const id of ['arrow', 'arrow-path']) {
    defs.append(
      s(
        'marker',
        {
          id,
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: id === 'arrow' ? 'arrow' : 'arrow path' }),
      ),
    )
  }
  svg.append(defs)
  const mid = y + height / 2
  const reached = (state) => state !== 'pending'
  const PASSED = new Set(['completed', 'skipped', 'compensated', 'compensating'])
  // Start and end terminals, as a flowchart draws them.
  const startReached = nodes.length > 0 && reached(nodes[0].state)
  svg.append(
    s(
      'circle',
      { cx: 14, cy: mid, r: 7, class: `terminal${startReached ? ' reached' : ''}` },
      s('title', {}, 'start'),
    ),
  )
  let prevEnd = 21
  let prevOnPath = startReached
  for (const box of boxes) {
    const onPath = prevOnPath && reached(box.node.state)
    svg.append(edge(prevEnd, box.x, mid, onPath))
    svg.append(graphNode(box, y, height, mid))
    prevEnd = box.x + box.width
    // The run went on past a step it completed or skipped, and past one it later undid.
    prevOnPath = onPath && PASSED.has(box.node.state)
  }
  const done = view.run.status === 'completed'
  svg.append(edge(prevEnd, total - 28, mid, done && prevOnPath))
  svg.append(
    s(
      'circle',
      { cx: total - 18, cy: mid, r: 9, class: `terminal${done ? ' reached' : ''}` },
      s('title', {}, 'end'),
    ),
  )
  return svg
}

export function edge(x1, x2, y, onPath) {
  return s('line', {
    x1,
    y1: y,
    x2: x2 - 2,
    y2: y,
    class: `edge${onPath ? ' path' : ''}`,
    'marker-end': onPath ? 'url(#arrow-path)' : 'url(#arrow)',
  })
}

export function graphNode(box, y, height, mid) {
  const { node, label, x, width } = box
  const selected = state.selected === node.index
  const group = s('g', {
    class: `node ${node.state}${selected ? ' selected' : ''}`,
    'data-node': node.index,
    tabindex: 0,
    role: 'link',
    onclick: () => selectStep(node.index),
    onkeydown: (event) => {
      if (event.key === 'Enter') selectStep(node.index)
    },
  })
  const notes = [
    node.conditional ? 'runs only when its condition holds' : '',
    node.compensable ? 'has a compensation' : '',
  ]
  group.append(
    s(
      'title',
      {},
      `${node.name} — ${node.kind}, ${node.state}${notes
        .filter(Boolean)
        .map((n) => `; ${n}`)
        .join('')}`,
    ),
  )
  if (node.kind === 'commit') {
    // Commits (side effects that never repeat) are hexagons, as Mermaid's {{…}} node.
    const inset = 12
    const points = [
      [x, mid],
      [x + inset, y],
      [x + width - inset, y],
      [x + width, mid],
      [x + width - inset, y + height],
      [x + inset, y + height],
    ]
    group.append(s('polygon', { points: points.map((p) => p.join(',')).join(' ') }))
  } else {
    group.append(s('rect', { x, y, width, height, rx: 10, ry: 10 }))
  }
  group.append(s('text', { x: x + width / 2, y: mid + 4, 'text-anchor': 'middle' }, label))
  // Badges above the node: a diamond for a `when` condition (a branch), ↺ for a compensation.
  if (node.conditional || node.compensable) {
    const badges = s('g', { class: 'badges' })
    if (node.conditional) {
      const cx = x + 10
      const cy = y - 7
      badges.append(
        s('polygon', {
          class: 'badge condition',
          points: `${cx},${cy - 6} ${cx + 6},${cy} ${cx},${cy + 6} ${cx - 6},${cy}`,
        }),
      )
    }
    if (node.compensable) {
      badges.append(
        s('text', { x: x + width - 10, y: y - 3, 'text-anchor': 'middle', class: 'badge undo' }, '↺'),
      )
    }
    group.append(badges)
  }
  group.append(
    s(
      'text',
      { x: x + width / 2, y: y + height + 16, 'text-anchor': 'middle', class: 'muted' },
      node.state === 'pending' ? '' : node.state,
    ),
  )
  return group
}

export function selectStep(index) {
  const id = state.runId
  location.hash = state.selected === index ? runHref(id) : runHref(id, index)
}

// ---------------------------------------------------------------- timeline

export function timeline(view) {
  const { start } = view.timeline
  // An active run's last bar reaches "now", which moves on between updates.
  const end = ACTIVE.has(view.run.status) ? Math.max(view.timeline.end, Date.now()) : view.timeline.end
  const span = Math.max(1, end - start)
  const pct = (t) => `${Math.min(100, Math.max(0, ((t - start) / span) * 100)).toFixed(3)}%`
  const width = (a, b) => `${Math.max(0, ((Math.min(b, end) - Math.max(a, start)) / span) * 100).toFixed(3)}%`
  const bar = (cls, a, b, title) => {
    const el = h('div', { class: `bar ${cls}`, title })
    el.style.left = pct(a)
    el.style.width = width(a, b)
    return el
  }
  const mark = (cls, t, title) => {
    const el = h('div', { class: `mark ${cls}`, title })
    el.style.left = pct(t)
    return el
  }
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f, i, all) => {
    const el = h('span', {
      class: `tick${i === 0 ? ' first' : i === all.length - 1 ? ' last' : ''}`,
      text: `+${formatDuration(span * f)}`,
    })
    el.style.left = `${f * 100}%`
    return el
  })
  const rows = view.steps.map((step) => {
    const bars = []
    const stop = step.completedAt ?? (step.status === 'running' || step.status === 'suspended' ? end : null)
    if (step.startedAt !== null && stop !== null) {
      const runEnd = step.suspendedAt ?? stop
      bars.push(
        bar(
          step.status === 'failed' ? 'failed' : step.status === 'running' ? 'running' : 'completed',
          step.startedAt,
          runEnd,
          `ran ${formatDuration(runEnd - step.startedAt)}`,
        ),
      )
      if (step.suspendedAt !== null) {
        const what = step.waitingFor ? `waiting for signal "${step.waitingFor}"` : 'sleeping'
        bars.push(
          bar('wait', step.suspendedAt, stop, `${what} for ${formatDuration(stop - step.suspendedAt)}`),
        )
      }
    }
    for (const attempt of step.failedAttempts) {
      if (attempt.backoffUntil !== null)
        bars.push(
          bar(
            'backoff',
            attempt.at,
            attempt.backoffUntil,
            `backoff ${formatDuration(attempt.backoffUntil - attempt.at)} before attempt ${attempt.attempt + 1}`,
          ),
        )
      bars.push(mark('fail', attempt.at, `attempt ${attempt.attempt} failed: ${attempt.error}`))
    }
    if (step.status === 'skipped' && step.completedAt !== null)
      bars.push(mark('skip', step.completedAt, 'skipped'))
    if (step.compensation) {
      const from = step.compensation.startedAt ?? step.compensation.compensatedAt ?? end
      const to = step.compensation.compensatedAt ?? end
      bars.push(
        bar(
          'compensation',
          from,
          to,
          step.compensation.error ? `compensation failed: ${step.compensation.error}` : 'compensation',
        ),
      )
    }
    const note =
      step.status === 'suspended' && step.waitingFor
        ? `waits for "${step.waitingFor}"`
        : step.status === 'suspended' && step.wakeAt
          ? `until ${formatTime(step.wakeAt).slice(11, 19)}`
          : step.status === 'running' && step.wakeAt
            ? `retry at ${formatTime(step.wakeAt).slice(11, 23)}`
            : step.duration !== null
              ? formatDuration(step.duration)
              : ''
    return h(
      'div',
      {
        class: `tl-row${state.selected === step.index ? ' selected' : ''}`,
        'data-step': step.index,
        onclick: (event) => {
          if (!event.target.closest('a')) selectStep(step.index)
        },
      },
      h(
        'div',
        { class: 'tl-label', title: step.name },
        h('a', { href: runHref(state.runId, step.index), text: `${step.index + 1}. ${step.name}` }),
        step.kind === 'commit' ? h('span', { class: 'kind', text: 'commit' }) : null,
      ),
      h('div', { class: 'tl-track' }, bars),
      h('div', { class: 'tl-note' }, badge(step.status), h('div', { text: note })),
    )
  })
  return [
    h(
      'div',
      { class: 'timeline' },
      h('div', { class: 'tl-label muted small', text: formatTime(start) }),
      h('div', { class: 'axis' }, ticks),
      h('div'),
      rows,
    ),
    h(
      'div',
      { class: 'legend' },
      h('span', null, h('span', { class: 'bar completed' }), 'ran'),
      h('span', null, h('span', { class: 'bar wait' }), 'suspended (signal or sleep)'),
      h('span', null, h('span', { class: 'bar backoff' }), 'retry backoff'),
      h('span', null, h('span', { class: 'bar failed' }), 'failed attempt'),
      h('span', null, h('span', { class: 'bar compensation' }), 'compensation'),
    ),
  ]
}
