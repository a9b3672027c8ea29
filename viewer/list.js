// The runs list: filters, the table, paging; follows the list live.

import { api, badge, clear, fill, formatDuration, formatTime, h, main, pad, timeCell } from './dom.js'
import { actionRefs, follow, route, runHref, state } from './state.js'

export const STATUS_ORDER = [
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

// ---------------------------------------------------------------- list page

export function listParams(params) {
  const out = new URLSearchParams()
  for (const key of ['workflow', 'status', 'q', 'from', 'to', 'limit', 'offset']) {
    const value = params.get(key)
    if (value) out.set(key, value)
  }
  return out
}

export function setListParams(params) {
  const text = listParams(params).toString()
  location.hash = text ? `#/?${text}` : '#/'
}

export async function renderListPage(params) {
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
export function runsUrl(key) {
  return key ? `api/runs?${key}` : 'api/runs'
}

/** A page of the list; the first one may already be on its way (see `start`). */
export function listPage(query) {
  const key = query.toString()
  const early = state.prefetched
  state.prefetched = null
  if (early && early.key === key) return early.promise
  return api(runsUrl(key))
}

export function loadWorkflows() {
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
export function toLocalInput(value) {
  if (!value) return ''
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(ms)) return ''
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}

export function filtersPanel(params) {
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

export function runsTable(view, params) {
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

export function stepCell(run) {
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
