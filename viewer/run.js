// A run's page: its head, and the body re-rendered on every live update.

import { actionsPanel, updateActions } from './actions.js'
import { api, badge, banner, fill, formatDuration, formatTime, h, main } from './dom.js'
import { graph, timeline } from './graph.js'
import { checkpointsPanel, eventsPanel, signalsPanel, stepPanel } from './panels.js'
import { actionRefs, follow, state } from './state.js'

// ---------------------------------------------------------------- run page

export async function renderRunPage(id, step) {
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
export function refreshRun() {
  const view = state.run
  const head = document.getElementById('run-head')
  const body = document.getElementById('run-body')
  if (!head || !body) return
  fill(head, runHead(view))
  fill(body, runBody(view))
  updateActions(view)
}

export function runHead(view) {
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

export function runBody(view) {
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

export function errorPanel(error) {
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
