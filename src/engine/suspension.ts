/**
 * Suspension: a step that waits for a signal (`Flux.wait`) or a time (`Flux.sleep`), and what a
 * woken run does with its suspended step.
 */
import type { StoredStep } from '../codec/checkpoint.js'
import { SignalTimeoutError, toError } from '../errors.js'
import type { FluxSleepResult, FluxWaitResult } from '../types.js'
import type { Runner, StepEnd } from './runner.js'

/** The step returned `Flux.wait`: park the run on the signal, unless it is already in the mailbox. */
export async function waitStep(
  runner: Runner,
  index: number,
  wait: FluxWaitResult,
  started: number,
): Promise<StepEnd> {
  const state = runner.state
  const core = state.core
  const now = core.clock.now()
  const record: StoredStep = {
    ...state.history[index]!,
    status: 'suspended',
    suspendedAt: now,
    waitingFor: wait.signal,
    duration: now - started,
    wakeAt: wait.timeout !== undefined ? now + wait.timeout : undefined,
  }
  const body = recordSuspension(runner, index, record)
  if (typeof body !== 'string') return body
  state.status = 'suspended'
  state.waitingFor = wait.signal
  state.wakeAt = wait.timeout !== undefined ? now + wait.timeout : null
  await state.barrier()
  const parked = await state.park(body, wait.signal)
  if (!parked.parked) {
    // The signal arrived before the wait: keep the step's data, then consume the signal.
    state.status = 'running'
    state.waitingFor = null
    state.wakeAt = null
    state.write({ body })
    state.mailbox.push(parked.signal)
    return continueSuspended(runner, index, record)
  }
  await runner.trace('step:suspend', {
    ...runner.stepFields(index, 'suspended'),
    meta: { waitingFor: wait.signal },
  })
  await runner.trace('workflow:suspend', { status: 'suspended', meta: { waitingFor: wait.signal } })
  return { kind: 'rest' }
}

/** The step returned `Flux.sleep`: park the run until its wake-up time, lease released. */
export async function sleepStep(
  runner: Runner,
  index: number,
  sleep: FluxSleepResult,
  started: number,
): Promise<StepEnd> {
  const state = runner.state
  const now = state.core.clock.now()
  const wakeAt = sleep.until ?? now + (sleep.ms ?? 0)
  const record: StoredStep = {
    ...state.history[index]!,
    status: 'suspended',
    suspendedAt: now,
    wakeAt,
    duration: now - started,
  }
  const body = recordSuspension(runner, index, record)
  if (typeof body !== 'string') return body
  state.status = 'suspended'
  state.wakeAt = wakeAt
  state.write({ body, release: true })
  await state.barrier()
  await runner.trace('step:suspend', { ...runner.stepFields(index, 'suspended'), meta: { wakeAt } })
  await runner.trace('workflow:suspend', { status: 'suspended', meta: { wakeAt } })
  return { kind: 'sleep', wakeAt }
}

/** A suspended step after a wake-up: consume its signal, fail on wait timeout, finish a sleep, or park again. */
export async function continueSuspended(runner: Runner, index: number, record: StoredStep): Promise<StepEnd> {
  const state = runner.state
  const core = state.core
  const now = core.clock.now()
  const name = record.waitingFor
  if (name !== undefined) {
    const found = state.mailbox.findIndex((s) => s.name === name)
    if (found >= 0) {
      const signal = state.mailbox.splice(found, 1)[0]!
      const payload = core.serializer.decode(signal.payload)
      state.setStep(index, {
        ...record,
        status: 'completed',
        completedAt: now,
        output: payload,
        wakeAt: undefined,
      })
      state.signals[name] = payload
      state.status = 'running'
      state.waitingFor = null
      state.wakeAt = null
      state.write({ body: state.encodeBody(false), consumeSignal: name, sync: false })
      await runner.trace('step:complete', {
        ...runner.stepFields(index, 'completed'),
        meta: { signal: name },
      })
      return 'next'
    }
    if (record.wakeAt !== undefined && record.wakeAt <= now) {
      await runner.trace('step:timeout', {
        ...runner.stepFields(index, 'suspended'),
        error: `signal "${name}" timed out`,
      })
      return runner.failFinally(index, record, new SignalTimeoutError(name))
    }
    state.status = 'suspended'
    state.waitingFor = name
    state.wakeAt = record.wakeAt ?? null
    await state.barrier()
    const parked = await state.park(undefined, name)
    if (parked.parked) return { kind: 'rest' }
    state.mailbox.push(parked.signal)
    return continueSuspended(runner, index, record)
  }
  const due = record.wakeAt ?? now
  if (due <= now) {
    state.setStep(index, { ...record, status: 'completed', completedAt: now, wakeAt: undefined })
    state.status = 'running'
    state.wakeAt = null
    state.write({ body: state.encodeBody(false) })
    await runner.trace('step:complete', { ...runner.stepFields(index, 'completed'), meta: { slept: true } })
    return 'next'
  }
  state.status = 'suspended'
  state.wakeAt = due
  state.write({ release: true })
  await state.barrier()
  return { kind: 'sleep', wakeAt: due }
}

/**
 * Sets the step's suspended record and encodes it with the data the handler changed before it
 * returned. Data that cannot be stored fails the step instead (the attempt's data is dropped).
 */
function recordSuspension(runner: Runner, index: number, record: StoredStep): string | Promise<StepEnd> {
  const state = runner.state
  state.setStep(index, record)
  let body: string | undefined
  try {
    body = state.encodeBody(true)
  } catch (error) {
    state.refold()
    return runner.failFinally(index, { ...record, status: 'running' }, toError(error))
  }
  state.tracker.commit()
  // A suspended record always changed, so there is a body.
  return body!
}
