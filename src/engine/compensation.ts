/**
 * The saga walk: when a step fails finally, completed steps with `compensate` run in reverse
 * order. Each compensation's start and end are checkpointed, and the list still to compensate
 * lives on the run (`meta.compensate`), so a crash mid-walk resumes where it stopped (the
 * interrupted compensation runs again: at-least-once, like a step). A compensation that still
 * fails after its step's retries stops the walk: that step stays `compensating`, the run ends
 * `compensation_failed`, and the steps left are kept on the run for an operator.
 */
import { sleepOn } from '../clock.js'
import { parseStoredError, toErrorObject } from '../codec/checkpoint.js'
import { toError } from '../errors.js'
import { type AttemptOutcome, runAttempt } from './attempt.js'
import { StepContext } from './context.js'
import { backoffDelay, isFinalError } from './retry.js'
import type { DriveEnd, Runner } from './runner.js'

/** A step failed finally at `index`: fail the run, or start rolling back. */
export async function startCompensation(runner: Runner, index: number, error: Error): Promise<DriveEnd> {
  const state = runner.state
  const steps = state.resolved.def.steps
  const plan: number[] = []
  for (let j = index - 1; j >= 0; j--) {
    if (state.history[j]?.status === 'completed' && typeof steps[j]?.compensate === 'function') plan.push(j)
  }
  runner.setError(error)
  if (plan.length === 0) {
    state.status = 'failed'
    state.waitingFor = null
    state.wakeAt = null
    state.write({ body: state.encodeBody(false), release: true })
    await state.barrier()
    await runner.reportFailure(error)
    return { kind: 'rest' }
  }
  state.status = 'rolling_back'
  state.setMeta({ ...state.meta, compensate: plan, failedStep: index })
  state.write({ body: state.encodeBody(false) })
  await runner.trace('workflow:rollback_start', {
    status: 'rolling_back',
    error: error.message,
    meta: { steps: plan.map((j) => steps[j]!.name) },
  })
  runner.finalError = error
  return runCompensation(runner)
}

/** Runs (or continues) the compensation walk recorded on the run. */
export async function runCompensation(runner: Runner): Promise<DriveEnd> {
  const state = runner.state
  const core = state.core
  const steps = state.resolved.def.steps
  const original =
    runner.finalError ?? toErrorObject(parseStoredError(state.error) ?? { name: 'Error', message: 'failed' })
  while (state.meta.compensate && state.meta.compensate.length > 0) {
    const index = state.meta.compensate[0]!
    const def = steps[index]!
    const compensate = def.compensate!
    const retries = def.retries ?? core.defaultRetries
    const timeout = def.timeout ?? core.defaultTimeout
    state.setStep(index, { ...state.history[index]!, status: 'compensating' })
    state.write({ body: state.encodeBody(false) })
    await state.barrier()
    for (let attempt = 1; ; attempt++) {
      const data = state.tracker.begin()
      const ctx = new StepContext(state, attempt, def.name, 0, data, ':compensate')
      const pending = runAttempt(
        compensate as (c: StepContext) => unknown,
        ctx,
        timeout,
        core.clock,
        runner.signal,
      )
      const outcome: AttemptOutcome = pending instanceof Promise ? await pending : pending
      let failure: Error | undefined
      if (outcome.ok) {
        state.setStep(index, {
          ...state.history[index]!,
          status: 'compensated',
          compensatedAt: runner.now(),
          error: undefined,
        })
        state.setMeta({ ...state.meta, compensate: state.meta.compensate.slice(1) })
        try {
          const body = state.encodeBody(true)
          state.tracker.commit()
          state.write({ body })
          await runner.trace('step:compensate', runner.stepFields(index, 'compensated'))
          break
        } catch (error) {
          failure = toError(error)
          state.setStep(index, { ...state.history[index]!, status: 'compensating' })
          state.setMeta({ ...state.meta, compensate: [index, ...state.meta.compensate] })
        }
      } else {
        if (runner.signal.aborted) throw runner.signal.reason
        failure = outcome.error
      }
      state.refold()
      if (isFinalError(failure, def.retryIf) || attempt > retries) {
        state.setStep(index, { ...state.history[index]!, error: failure.message })
        state.status = 'compensation_failed'
        state.write({ body: state.encodeBody(false), release: true })
        await state.barrier()
        await runner.trace('step:compensate', {
          ...runner.stepFields(index, 'compensating'),
          error: failure.message,
        })
        core.logger.error(`compensation of step "${def.name}" of ${state.id} failed: ${failure.message}`)
        await runner.reportFailure(original)
        return { kind: 'rest' }
      }
      const delay = backoffDelay(def.backoff, core.defaultBackoff, attempt, failure, core.random)
      await sleepOn(core.clock, delay, runner.signal)
    }
  }
  state.status = 'rolled_back'
  state.write({ release: true })
  await state.barrier()
  await runner.trace('workflow:rollback_complete', { status: 'rolled_back' })
  await runner.reportFailure(original)
  return { kind: 'rest' }
}
