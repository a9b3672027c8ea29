// The run page's panels: a step's details and data diff, signals, checkpoints, trace events.

import { badge, formatDuration, formatTime, h } from './dom.js'
import { runHref, state } from './state.js'

// ---------------------------------------------------------------- step panel

export function stepPanel(view, step) {
  const facts = [
    ['Status', badge(step.status)],
    ['Kind', step.kind],
    ['Attempts', `${step.attempts} (${step.retries} ${step.retries === 1 ? 'retry' : 'retries'})`],
    ['Started', formatTime(step.startedAt)],
    ['Ended', formatTime(step.completedAt)],
    [
      'Duration',
      step.duration !== null
        ? formatDuration(step.duration)
        : step.startedAt !== null && step.completedAt !== null
          ? `${formatDuration(step.completedAt - step.startedAt)} (start to end)`
          : '—',
    ],
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

export function diffTable(changes) {
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

export function signalsPanel(view) {
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

export function checkpointsPanel(view) {
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

export function eventsPanel(view) {
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
