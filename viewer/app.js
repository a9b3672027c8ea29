// fluxflow viewer: a static page with no framework and no build step.
//
// Every value that comes from a run (ids, names, errors, data) reaches the DOM as a text node
// or through textContent, never as markup: there is no innerHTML in this file, and the server's
// Content-Security-Policy forbids inline script, so a step named `<img onerror=…>` is shown as
// those characters and nothing runs. Links are built from '#' plus encodeURIComponent.

const STATUS_ORDER = [
  'pending',
  'running',
  'suspended',
  'rolling_back',
  'completed',
  'failed',
  'rolled_back',
  'compensation_failed',
  'cancelled',
]
const SVG_NS = 'http://www.w3.org/2000/svg'

const state = {
  info: null,
  /** Workflow names for the filter. */
  workflows: [],
  /** The open event stream and what it follows. */
  stream: null,
  streamKey: '',
  /** Run page: the last detail received, the selected step, open checkpoint details. */
  run: null,
  runId: null,
  selected: null,
  openCheckpoints: new Set(),
  firstListRendered: false,
  /** The first list page, fetched while the rest starts. */
  prefetched: null,
}

// ---------------------------------------------------------------- DOM helpers

/** Creates an element. `props`: class, text, title, href ('#…' only), data-*, on* handlers, safe attributes. */
function h(tag, props, ...children) {
  const el = document.createElement(tag)
  applyProps(el, props)
  append(el, children)
  return el
}

/** Creates an SVG element with attributes. */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else el.setAttribute(key, String(value))
  }
  append(el, children)
  return el
}

const SAFE_ATTRIBUTES = new Set([
  'type',
  'name',
  'value',
  'placeholder',
  'id',
  'for',
  'role',
  'list',
  'min',
  'max',
  'rows',
  'tabindex',
  'aria-label',
  'aria-live',
  'aria-current',
  'autocomplete',
  'spellcheck',
])

function applyProps(el, props) {
  if (!props) return
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'class') el.className = value
    else if (key === 'text') el.textContent = String(value)
    else if (key === 'title') el.title = String(value)
    else if (key === 'href') {
      // Only in-page routes: a stored value can never become a javascript: URL.
      if (!String(value).startsWith('#')) throw new Error('only # links')
      el.setAttribute('href', value)
    } else if (key === 'checked' || key === 'disabled' || key === 'selected' || key === 'hidden')
      el[key] = Boolean(value)
    else if (key.startsWith('data-')) el.setAttribute(key, String(value))
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (SAFE_ATTRIBUTES.has(key)) el.setAttribute(key, String(value))
    else throw new Error(`attribute ${key} is not allowed`)
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove()
}

/** Replaces an element's children. */
function fill(el, children) {
  clear(el)
  append(el, [children])
}

function main() {
  return document.getElementById('main')
}

// ---------------------------------------------------------------- formatting

function pad(n, w = 2) {
  return String(n).padStart(w, '0')
}

function formatTime(ms) {
  if (ms === null || ms === undefined) return '—'
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const sec = Math.round(ms / 1000)
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${pad(sec % 60)} s`
  const min = Math.round(sec / 60)
  if (min < 2880) return `${Math.floor(min / 60)} h ${pad(min % 60)} min`
  return `${Math.round(min / 1440)} d`
}

function ago(ms) {
  const diff = Date.now() - ms
  if (diff < 0) return `in ${formatDuration(-diff)}`
  if (diff < 5000) return 'just now'
  return `${formatDuration(diff)} ago`
}

function badge(status) {
  return h('span', { class: `badge s-${status}`, 'data-status': status, text: status.replace('_', ' ') })
}

function timeCell(ms) {
  return h('span', { title: formatTime(ms), text: ago(ms) })
}

// ---------------------------------------------------------------- API

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options })
  let body = null
  const type = response.headers.get('content-type') ?? ''
  if (type.includes('application/json')) body = await response.json()
  else body = { error: await response.text() }
  if (!response.ok) throw new Error(body?.error ?? `HTTP ${response.status}`)
  return body
}

function post(path, payload) {
  return api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(payload),
  })
}

function banner(message) {
  const el = document.getElementById('banner')
  el.textContent = message ?? ''
  el.hidden = !message
}

/** Follows one event stream at a time; `handlers` maps event names to callbacks. */
function follow(url, handlers) {
  if (state.stream && state.streamKey === url) return
  stopFollowing()
  const stream = new EventSource(url)
  state.stream = stream
  state.streamKey = url
  const live = document.getElementById('live')
  stream.onopen = () => {
    live.className = 'live on'
    live.title = 'live updates: connected'
  }
  stream.onerror = () => {
    live.className = 'live offline'
    live.title = 'live updates: reconnecting'
  }
  for (const [name, handler] of Object.entries(handlers)) {
    stream.addEventListener(name, (event) => handler(JSON.parse(event.data)))
  }
  stream.addEventListener('problem', (event) =>
    banner(`Live update failed: ${JSON.parse(event.data).message}`),
  )
}

function stopFollowing() {
  state.stream?.close()
  state.stream = null
  state.streamKey = ''
}

// ---------------------------------------------------------------- routing

function route() {
  const hash = location.hash.replace(/^#/, '') || '/'
  const [path, search = ''] = hash.split('?')
  const parts = path.split('/').filter(Boolean)
  if (parts[0] === 'run' && parts[1] !== undefined) {
    const step = parts[2] === 'step' && parts[3] !== undefined ? Number(parts[3]) : null
    return { page: 'run', id: decodeURIComponent(parts[1]), step: Number.isInteger(step) ? step : null }
  }
  return { page: 'list', params: new URLSearchParams(search) }
}

function runHref(id, step) {
  return `#/run/${encodeURIComponent(id)}${step === null || step === undefined ? '' : `/step/${step}`}`
}

async function render() {
  banner(null)
  const r = route()
  try {
    if (r.page === 'run') await renderRunPage(r.id, r.step)
    else await renderListPage(r.params)
  } catch (error) {
    stopFollowing()
    fill(
      main(),
      h(
        'div',
        { class: 'panel' },
        h('p', { class: 'result error', text: error.message }),
        h('a', { href: '#/', text: '← All runs' }),
      ),
    )
  }
}

// ---------------------------------------------------------------- list page

function listParams(params) {
  const out = new URLSearchParams()
  for (const key of ['workflow', 'status', 'q', 'from', 'to', 'limit', 'offset']) {
    const value = params.get(key)
    if (value) out.set(key, value)
  }
  return out
}

function setListParams(params) {
  const text = listParams(params).toString()
  location.hash = text ? `#/?${text}` : '#/'
}

async function renderListPage(params) {
  state.run = null
  state.runId = null
  actionRefs.from = null
  const query = listParams(params)
  const view = await listPage(query)
  fill(main(), [filtersPanel(params), h('div', { class: 'panel', id: 'runs' }, runsTable(view, params))])
  if (!state.firstListRendered) {
    state.firstListRendered = true
    // After the frame that paints the rows: what the benchmark reads as "first page rendered".
    requestAnimationFrame(() => setTimeout(() => performance.mark('flux:list-rendered'), 0))
  }
  document.body.dataset.page = 'list'
  follow(`api/events?${query}`, {
    list: (next) => {
      const holder = document.getElementById('runs')
      if (!holder || route().page !== 'list') return
      fill(holder, runsTable(next, params))
    },
  })
  if (state.workflows.length === 0) loadWorkflows()
}

/** The list API URL; without filters exactly the URL index.html preloads. */
function runsUrl(key) {
  return key ? `api/runs?${key}` : 'api/runs'
}

/** A page of the list; the first one may already be on its way (see `start`). */
function listPage(query) {
  const key = query.toString()
  const early = state.prefetched
  state.prefetched = null
  if (early && early.key === key) return early.promise
  return api(runsUrl(key))
}

function loadWorkflows() {
  api('api/workflows')
    .then((names) => {
      state.workflows = names
      const list = document.getElementById('workflow-names')
      if (list) {
        clear(list)
        for (const name of names) list.append(h('option', { value: name }))
      }
    })
    .catch(() => undefined)
}

/** A `datetime-local` value from epoch ms or an ISO string, and back. */
function toLocalInput(value) {
  if (!value) return ''
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(ms)) return ''
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}

function filtersPanel(params) {
  const statuses = new Set((params.get('status') ?? '').split(',').filter(Boolean))
  const workflow = h('input', {
    name: 'workflow',
    list: 'workflow-names',
    placeholder: 'any workflow',
    value: params.get('workflow') ?? '',
    autocomplete: 'off',
  })
  const search = h('input', {
    name: 'q',
    placeholder: 'id starts with…',
    value: params.get('q') ?? '',
    autocomplete: 'off',
    spellcheck: 'false',
  })
  const from = h('input', { name: 'from', type: 'datetime-local', value: toLocalInput(params.get('from')) })
  const to = h('input', { name: 'to', type: 'datetime-local', value: toLocalInput(params.get('to')) })
  const chips = STATUS_ORDER.map((status) =>
    h(
      'label',
      { class: 'chip' },
      h('input', {
        type: 'checkbox',
        value: status,
        checked: statuses.has(status),
        'data-filter-status': status,
        onchange: apply,
      }),
      status.replace('_', ' '),
    ),
  )
  const names = h(
    'datalist',
    { id: 'workflow-names' },
    state.workflows.map((name) => h('option', { value: name })),
  )

  function apply(event) {
    event?.preventDefault()
    const next = new URLSearchParams()
    if (workflow.value.trim()) next.set('workflow', workflow.value.trim())
    const checked = chips.map((chip) => chip.querySelector('input')).filter((input) => input.checked)
    if (checked.length) next.set('status', checked.map((input) => input.value).join(','))
    if (search.value.trim()) next.set('q', search.value.trim())
    if (from.value) next.set('from', new Date(from.value).toISOString())
    if (to.value) next.set('to', new Date(to.value).toISOString())
    if (params.get('limit')) next.set('limit', params.get('limit'))
    setListParams(next)
  }

  function recent(hours) {
    from.value = toLocalInput(String(Date.now() - hours * 3600_000))
    to.value = ''
    apply()
  }

  const form = h(
    'form',
    { class: 'panel filters', onsubmit: apply, role: 'search' },
    h('label', null, 'Search by id', search),
    h('label', null, 'Workflow', workflow, names),
    h('label', null, 'Status', h('div', { class: 'chips' }, chips)),
    h('label', null, 'Created from', from),
    h('label', null, 'to', to),
    h(
      'div',
      { class: 'chips' },
      h('button', { type: 'button', onclick: () => recent(1), text: '1 h' }),
      h('button', { type: 'button', onclick: () => recent(24), text: '24 h' }),
      h('button', { type: 'button', onclick: () => recent(24 * 7), text: '7 d' }),
    ),
    h('button', { type: 'submit', class: 'primary', text: 'Apply' }),
    h('button', { type: 'button', onclick: () => setListParams(new URLSearchParams()), text: 'Clear' }),
  )
  workflow.addEventListener('change', apply)
  return form
}

function runsTable(view, params) {
  const rows = view.runs.map((run) =>
    h(
      'tr',
      { class: 'run-row', 'data-run': run.id },
      h('td', { class: 'id' }, h('a', { href: runHref(run.id), text: run.id })),
      h('td', { text: run.workflow }),
      h('td', null, badge(run.status)),
      h('td', null, stepCell(run)),
      h('td', null, timeCell(run.createdAt)),
      h('td', null, timeCell(run.updatedAt)),
      h('td', { text: run.completedAt ? formatDuration(run.completedAt - run.createdAt) : '' }),
    ),
  )
  const first = view.total === 0 ? 0 : view.offset + 1
  const last = view.offset + view.runs.length
  const page = (offset) => {
    const next = listParams(params)
    if (offset > 0) next.set('offset', String(offset))
    else next.delete('offset')
    setListParams(next)
  }
  return [
    h(
      'table',
      { class: 'runs' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Run', 'Workflow', 'Status', 'Step', 'Created', 'Updated', 'Took'].map((t) =>
            h('th', { text: t }),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        rows.length ? rows : h('tr', null, h('td', { class: 'muted', text: 'No runs match.' })),
      ),
    ),
    h(
      'div',
      { class: 'pager' },
      h('span', {
        class: 'muted',
        'data-total': view.total,
        text: `${first.toLocaleString()}–${last.toLocaleString()} of ${view.total.toLocaleString()}`,
      }),
      h('button', {
        type: 'button',
        disabled: view.offset === 0,
        onclick: () => page(Math.max(0, view.offset - view.limit)),
        text: '← Newer',
      }),
      h('button', {
        type: 'button',
        disabled: last >= view.total,
        onclick: () => page(view.offset + view.limit),
        text: 'Older →',
      }),
    ),
  ]
}

function stepCell(run) {
  if (run.step === null)
    return run.stepIndex >= run.stepCount && run.stepCount > 0
      ? h('span', { class: 'muted', text: 'all done' })
      : '—'
  const text = `${run.stepIndex + 1}/${run.stepCount} ${run.step}`
  if (run.waitingFor)
    return [text, h('div', { class: 'muted small', text: `waiting for "${run.waitingFor}"` })]
  if (run.wakeAt && run.status === 'suspended')
    return [text, h('div', { class: 'muted small', text: `sleeping until ${formatTime(run.wakeAt)}` })]
  return text
}

// ---------------------------------------------------------------- run page

async function renderRunPage(id, step) {
  state.selected = step
  if (state.runId === id && state.run && document.getElementById('run-body')) {
    // Same run, another step: keep the page (and what was typed in the action forms).
    refreshRun()
    if (actionRefs.from && step !== null) actionRefs.from.value = state.run.steps[step]?.name ?? ''
    return
  }
  state.runId = id
  state.run = null
  state.openCheckpoints = new Set()
  const view = await api(`api/runs/${encodeURIComponent(id)}`)
  if (state.runId !== id) return
  state.run = view
  fill(main(), [
    h('p', null, h('a', { href: '#/', text: '← All runs' })),
    h('div', { id: 'run-head' }, runHead(view)),
    state.info?.actions ? actionsPanel(view) : null,
    h('div', { id: 'run-body' }, runBody(view)),
  ])
  document.body.dataset.page = 'run'
  follow(`api/events?run=${encodeURIComponent(id)}&rev=${view.run.revision}`, {
    run: (next) => {
      if (state.runId !== next.run.id) return
      state.run = next
      refreshRun()
    },
    gone: () => banner('This run was deleted.'),
  })
}

/** Re-renders the parts of the run page that show data, keeping the action forms as typed. */
function refreshRun() {
  const view = state.run
  const head = document.getElementById('run-head')
  const body = document.getElementById('run-body')
  if (!head || !body) return
  fill(head, runHead(view))
  fill(body, runBody(view))
  updateActions(view)
}

function runHead(view) {
  const r = view.run
  const facts = [
    ['Workflow', r.version ? `${r.workflow} (version ${r.version})` : r.workflow],
    [
      'Step',
      r.step === null
        ? r.stepCount > 0 && r.stepIndex >= r.stepCount
          ? 'all done'
          : '—'
        : `${r.stepIndex + 1}/${r.stepCount} ${r.step}`,
    ],
    ['Created', formatTime(r.createdAt)],
    ['Updated', formatTime(r.updatedAt)],
    [
      'Ended',
      r.completedAt
        ? `${formatTime(r.completedAt)} (after ${formatDuration(r.completedAt - r.createdAt)})`
        : null,
    ],
    ['Waiting for', r.waitingFor ? `signal "${r.waitingFor}"` : null],
    ['Wakes at', r.wakeAt ? formatTime(r.wakeAt) : null],
    ['Lease', r.leaseOwner ? `${r.leaseOwner} until ${formatTime(r.leaseExpiresAt)}` : null],
    ['Queue', r.queue],
    ['Still to undo', r.compensate.length ? r.compensate.join(', ') : null],
  ].filter(([, value]) => value !== null && value !== undefined)
  return h(
    'div',
    { class: 'panel' },
    h(
      'div',
      { class: 'run-head' },
      h('h1', { class: 'mono', text: r.id }),
      badge(r.status),
      h('span', { class: 'muted small', text: `revision ${r.revision}` }),
    ),
    h(
      'dl',
      { class: 'facts' },
      facts.map(([name, value]) =>
        h('div', { class: 'fact' }, h('dt', { text: name }), h('dd', { text: value })),
      ),
    ),
  )
}

function runBody(view) {
  const selected = state.selected === null ? null : view.steps[state.selected]
  return [
    view.error ? errorPanel(view.error) : null,
    h(
      'section',
      { class: 'panel' },
      h('h2', { text: 'Workflow' }),
      h('div', { class: 'graph-wrap' }, graph(view)),
    ),
    h('section', { class: 'panel', id: 'timeline-panel' }, h('h2', { text: 'Timeline' }), timeline(view)),
    selected ? stepPanel(view, selected) : null,
    signalsPanel(view),
    h(
      'div',
      { class: 'cols' },
      h(
        'section',
        { class: 'panel' },
        h('h2', { text: 'Input' }),
        h('pre', { class: 'value', 'data-field': 'input', text: view.input }),
      ),
      h(
        'section',
        { class: 'panel' },
        h('h2', { text: 'Data (latest)' }),
        h('pre', { class: 'value', 'data-field': 'data', text: view.data }),
      ),
    ),
    view.checkpoints.length ? checkpointsPanel(view) : null,
    view.events ? eventsPanel(view) : null,
  ]
}

function errorPanel(error) {
  return h(
    'section',
    { class: 'panel', 'data-field': 'error' },
    h('h2', { text: 'Error' }),
    h(
      'div',
      { class: 'result error' },
      h('strong', { text: `${error.name}: ` }),
      error.message,
      error.code ? h('span', { class: 'muted', text: ` (${error.code})` }) : null,
    ),
    error.stack
      ? h('details', null, h('summary', { text: 'Stack' }), h('pre', { class: 'stack', text: error.stack }))
      : null,
  )
}

// ---------------------------------------------------------------- graph (Mermaid-style flow, LR)

function graph(view) {
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
  // Start and end terminals, as a flowchart draws them.
  const startReached = nodes.length > 0 && reached(nodes[0].state)
  svg.append(
    s(
      'circle',
      { cx: 16, cy: mid, r: 9, class: `terminal${startReached ? ' reached' : ''}` },
      s('title', {}, 'start'),
    ),
  )
  let prevEnd = 25
  let prevOnPath = startReached
  for (const box of boxes) {
    const onPath = prevOnPath && reached(box.node.state)
    svg.append(edge(prevEnd, box.x, mid, onPath))
    svg.append(graphNode(box, y, height, mid))
    prevEnd = box.x + box.width
    prevOnPath = onPath && (box.node.state === 'completed' || box.node.state === 'skipped')
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

function edge(x1, x2, y, onPath) {
  return s('line', {
    x1,
    y1: y,
    x2: x2 - 2,
    y2: y,
    class: `edge${onPath ? ' path' : ''}`,
    'marker-end': onPath ? 'url(#arrow-path)' : 'url(#arrow)',
  })
}

function graphNode(box, y, height, mid) {
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
  group.append(s('title', {}, `${node.name} — ${node.kind}, ${node.state}`))
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
  group.append(
    s(
      'text',
      { x: x + width / 2, y: y + height + 16, 'text-anchor': 'middle', class: 'muted' },
      node.state === 'pending' ? '' : node.state,
    ),
  )
  return group
}

function selectStep(index) {
  const id = state.runId
  location.hash = state.selected === index ? runHref(id) : runHref(id, index)
}

// ---------------------------------------------------------------- timeline

const ACTIVE = new Set(['pending', 'running', 'rolling_back'])

function timeline(view) {
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
      step.status === 'pending' ? '' : step.duration !== null ? formatDuration(step.duration) : step.status
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

// ---------------------------------------------------------------- step panel

function stepPanel(view, step) {
  const facts = [
    ['Status', badge(step.status)],
    ['Kind', step.kind],
    ['Attempts', `${step.attempts} (${step.retries} ${step.retries === 1 ? 'retry' : 'retries'})`],
    ['Started', formatTime(step.startedAt)],
    ['Ended', formatTime(step.completedAt)],
    ['Duration', formatDuration(step.duration)],
    step.suspendedAt !== null ? ['Suspended', formatTime(step.suspendedAt)] : null,
    step.waitingFor !== null ? ['Waits for', `signal "${step.waitingFor}"`] : null,
    step.wakeAt !== null
      ? [step.status === 'running' ? 'Next attempt at' : 'Wakes at', formatTime(step.wakeAt)]
      : null,
    step.compensation
      ? [
          'Compensated',
          step.compensation.compensatedAt ? formatTime(step.compensation.compensatedAt) : 'not yet',
        ]
      : null,
  ].filter(Boolean)
  return h(
    'section',
    { class: 'panel step-panel', 'data-step-panel': step.index },
    h(
      'h2',
      null,
      `Step ${step.index + 1}: `,
      h('span', { class: 'mono', text: step.name }),
      badge(step.status),
      h('a', { href: runHref(state.runId), class: 'small', text: 'close' }),
    ),
    h(
      'dl',
      { class: 'facts' },
      facts.map(([name, value]) =>
        h('div', { class: 'fact' }, h('dt', { text: name }), h('dd', null, value)),
      ),
    ),
    step.error ? h('div', { class: 'result error', 'data-field': 'step-error', text: step.error }) : null,
    step.compensation?.error
      ? h('div', { class: 'result error', text: `Compensation failed: ${step.compensation.error}` })
      : null,
    step.failedAttempts.length
      ? [
          h('h2', { text: 'Failed attempts' }),
          h(
            'table',
            null,
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Attempt', 'At', 'Error', 'Backoff before next'].map((t) => h('th', { text: t })),
              ),
            ),
            h(
              'tbody',
              null,
              step.failedAttempts.map((a) =>
                h(
                  'tr',
                  null,
                  h('td', { text: a.attempt }),
                  h('td', { text: formatTime(a.at) }),
                  h('td', { class: 'mono', text: a.error }),
                  h('td', {
                    text: a.backoffUntil === null ? 'final' : formatDuration(a.backoffUntil - a.at),
                  }),
                ),
              ),
            ),
          ),
        ]
      : null,
    step.output !== null
      ? [
          h('h2', { text: step.waitingFor ? 'Signal payload received' : 'Output' }),
          h('pre', { class: 'value', text: step.output }),
        ]
      : null,
    h('h2', { text: 'Data before → after' }),
    step.changes.length
      ? step.changes.map((c) => [
          h('div', { class: 'muted small', text: `checkpoint #${c.seq} at ${formatTime(c.at)}` }),
          diffTable(c.changes),
        ])
      : h('p', {
          class: 'muted',
          text:
            view.source === 'trace' ? 'A trace file does not record ctx.data.' : 'This step changed no data.',
        }),
  )
}

function diffTable(changes) {
  if (!changes.length) return h('p', { class: 'muted small', text: 'no data changes' })
  return h(
    'table',
    { class: 'diff' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Key', 'Change', 'Before', 'After'].map((t) => h('th', { text: t })),
      ),
    ),
    h(
      'tbody',
      null,
      changes.map((c) =>
        h(
          'tr',
          { 'data-change': c.kind },
          h('td', { class: 'key', text: c.key }),
          h('td', { class: 'change', text: c.kind }),
          h('td', { class: 'before' }, c.before === undefined ? '' : h('pre', { text: c.before })),
          h('td', { class: 'after' }, c.after === undefined ? '' : h('pre', { text: c.after })),
        ),
      ),
    ),
  )
}

function signalsPanel(view) {
  const { received, pending } = view.signals
  if (!received.length && !pending.length) return null
  return h(
    'section',
    { class: 'panel', 'data-field': 'signals' },
    h('h2', { text: 'Signals' }),
    h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Signal', 'State', 'At', 'Payload'].map((t) => h('th', { text: t })),
        ),
      ),
      h(
        'tbody',
        null,
        received.map((sig) =>
          h(
            'tr',
            null,
            h('td', { class: 'mono', text: sig.name }),
            h('td', { text: sig.step ? `received by ${sig.step}` : 'received' }),
            h('td', { text: formatTime(sig.at) }),
            h('td', null, h('pre', { text: sig.payload })),
          ),
        ),
        pending.map((sig) =>
          h(
            'tr',
            null,
            h('td', { class: 'mono', text: sig.name }),
            h('td', { text: 'in mailbox, not consumed yet' }),
            h('td', { text: formatTime(sig.at) }),
            h('td', null, h('pre', { text: sig.payload })),
          ),
        ),
      ),
    ),
  )
}

function checkpointsPanel(view) {
  return h(
    'section',
    { class: 'panel' },
    h('h2', { text: `Checkpoints (${view.checkpoints.length})` }),
    view.checkpoints.map((cp) => {
      const steps = cp.steps.map((st) => `${st.name} → ${st.status}`).join(', ') || 'run state'
      const details = h(
        'details',
        { 'data-checkpoint': cp.seq },
        h(
          'summary',
          null,
          h('span', { class: 'mono', text: `#${cp.seq} ` }),
          h('span', { class: 'muted', text: `${formatTime(cp.at)} · ` }),
          steps,
          cp.changes.length
            ? h('span', {
                class: 'muted',
                text: ` · ${cp.changes.length} data change${cp.changes.length === 1 ? '' : 's'}`,
              })
            : null,
        ),
        cp.replaced ? h('p', { class: 'muted small', text: 'ctx.data was replaced wholesale' }) : null,
        diffTable(cp.changes),
      )
      details.open = state.openCheckpoints.has(cp.seq)
      details.addEventListener('toggle', () => {
        if (details.open) state.openCheckpoints.add(cp.seq)
        else state.openCheckpoints.delete(cp.seq)
      })
      return details
    }),
  )
}

function eventsPanel(view) {
  return h(
    'section',
    { class: 'panel' },
    h('h2', { text: `Trace events (${view.events.length})` }),
    h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['At', 'Event', 'Step', 'Details'].map((t) => h('th', { text: t })),
        ),
      ),
      h(
        'tbody',
        null,
        view.events.map((e) =>
          h(
            'tr',
            null,
            h('td', { text: formatTime(e.at) }),
            h('td', { class: 'mono', text: e.type }),
            h('td', { text: e.step ?? '' }),
            h('td', { class: 'mono small', text: e.text }),
          ),
        ),
      ),
    ),
  )
}

// ---------------------------------------------------------------- actions

const actionRefs = {}

function actionsPanel(view) {
  const result = h('div', {
    class: 'result',
    role: 'status',
    'aria-live': 'polite',
    hidden: true,
    'data-field': 'action-result',
  })
  const show = (ok, message) => {
    result.hidden = false
    result.className = `result ${ok ? 'ok' : 'error'}`
    result.textContent = message
  }
  const run = async (button, action, payload) => {
    button.disabled = true
    try {
      const out = await post(`api/runs/${encodeURIComponent(state.runId)}/${action}`, payload)
      show(true, out.message)
    } catch (error) {
      show(false, error.message)
    } finally {
      button.disabled = false
    }
  }

  const from = h('select', { name: 'fromStep', 'aria-label': 'retry from step' })
  const recommit = h('input', { type: 'checkbox', name: 'recommit' })
  const retryButton = h('button', {
    type: 'button',
    class: 'primary',
    'data-action': 'retry',
    text: 'Retry from step',
  })
  retryButton.addEventListener('click', () =>
    run(retryButton, 'retry', {
      fromStep: from.value === '' ? null : from.value,
      recommit: recommit.checked,
    }),
  )

  const signalName = h('input', {
    name: 'signal',
    placeholder: 'signal name',
    autocomplete: 'off',
    spellcheck: 'false',
  })
  const payload = h('textarea', {
    name: 'payload',
    placeholder: 'payload as JSON, e.g. {"approvedBy": "me"} (optional)',
    spellcheck: 'false',
  })
  const signalButton = h('button', {
    type: 'button',
    class: 'primary',
    'data-action': 'signal',
    text: 'Send signal',
  })
  signalButton.addEventListener('click', () =>
    run(signalButton, 'signal', { name: signalName.value, payload: payload.value }),
  )

  const reason = h('input', { name: 'reason', placeholder: 'reason (optional)', autocomplete: 'off' })
  const cancelButton = h('button', {
    type: 'button',
    class: 'danger',
    'data-action': 'cancel',
    text: 'Cancel run',
  })
  cancelButton.addEventListener('click', () => run(cancelButton, 'cancel', { reason: reason.value }))

  Object.assign(actionRefs, { from, signalName, runId: null })
  const panel = h(
    'section',
    { class: 'panel' },
    h('h2', { text: 'Actions' }),
    h(
      'div',
      { class: 'actions' },
      h(
        'div',
        { class: 'action' },
        h('h3', { text: 'Retry' }),
        h('div', { class: 'row' }, from),
        h('label', { class: 'row small' }, recommit, 'run completed commits again (recommit)'),
        h('div', { class: 'row' }, retryButton),
      ),
      h(
        'div',
        { class: 'action' },
        h('h3', { text: 'Send a signal' }),
        signalName,
        payload,
        h('div', { class: 'row' }, signalButton),
      ),
      h(
        'div',
        { class: 'action' },
        h('h3', { text: 'Cancel' }),
        reason,
        h('div', { class: 'row' }, cancelButton),
      ),
    ),
    h('p', {
      class: 'muted small',
      text: 'Actions are written to storage; a worker that has this workflow carries them out.',
    }),
    result,
  )
  updateActions(view)
  return panel
}

/** Fills the step list and the awaited signal name without touching what the user typed. */
function updateActions(view) {
  const { from, signalName } = actionRefs
  if (!from) return
  const chosen = from.value
  if (actionRefs.runId !== view.run.id || from.options.length !== view.steps.length + 1) {
    clear(from)
    from.append(h('option', { value: '', text: 'where it stopped' }))
    for (const step of view.steps)
      from.append(h('option', { value: step.name, text: `${step.index + 1}. ${step.name}` }))
    from.value =
      actionRefs.runId === view.run.id
        ? chosen
        : state.selected !== null
          ? (view.steps[state.selected]?.name ?? '')
          : ''
  }
  if (view.run.waitingFor && !signalName.value) signalName.value = view.run.waitingFor
  actionRefs.runId = view.run.id
}

// ---------------------------------------------------------------- start

async function start() {
  // The first page of the list is asked for at once, beside the server info, not after it.
  const first = route()
  if (first.page === 'list') {
    const key = listParams(first.params).toString()
    const promise = api(runsUrl(key))
    promise.catch(() => undefined)
    state.prefetched = { key, promise }
  }
  try {
    state.info = await api('api/info')
    document.getElementById('source').textContent =
      `${state.info.source === 'db' ? 'database' : 'trace'}: ${state.info.label}`
    document.title = `fluxflow — ${state.info.label}`
  } catch (error) {
    banner(`Cannot reach the viewer API: ${error.message}`)
    return
  }
  setInterval(() => {
    const panel = document.getElementById('timeline-panel')
    if (panel && state.run && ACTIVE.has(state.run.run.status))
      fill(panel, [h('h2', { text: 'Timeline' }), timeline(state.run)])
  }, 1000)
  window.addEventListener('hashchange', () => {
    void render()
  })
  await render()
}

void start()
