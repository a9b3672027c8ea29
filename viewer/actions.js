// Retry, signal and cancel forms; what is typed survives live updates.

import { clear, h, post } from './dom.js'
import { actionRefs, state } from './state.js'

// ---------------------------------------------------------------- actions

export function actionsPanel(view) {
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
export function updateActions(view) {
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
