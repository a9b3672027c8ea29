import type { Clock, ClockTimer } from '../clock.js'
import { StepTimeoutError, toError } from '../errors.js'
import type { StepContext } from './context.js'
import type { Abortable } from './control.js'

/** How one attempt ended. */
export type AttemptOutcome = { ok: true; value: unknown } | { ok: false; error: Error; timedOut: boolean }

/**
 * Runs one attempt of a handler (or a compensation). A synchronous handler needs no timer; an
 * async one races its timeout and the run's abort signal (cancel, lease lost, engine stop). On
 * either, `ctx.signal` is aborted and the attempt is abandoned: whatever it still does happens
 * on a detached copy of `ctx.data`.
 */
export function runAttempt(
  fn: (ctx: StepContext) => unknown,
  ctx: StepContext,
  timeout: number,
  clock: Clock,
  runSignal: Abortable,
): AttemptOutcome | Promise<AttemptOutcome> {
  if (runSignal.aborted) return { ok: false, error: toError(runSignal.reason), timedOut: false }
  let result: unknown
  try {
    result = fn(ctx)
  } catch (error) {
    return { ok: false, error: toError(error), timedOut: false }
  }
  if (!isThenable(result)) return { ok: true, value: result }
  return new Promise<AttemptOutcome>((resolve) => {
    let settled = false
    let timer: ClockTimer | undefined
    let off = () => {}
    const finish = (outcome: AttemptOutcome) => {
      if (settled) return
      settled = true
      if (timer !== undefined) clock.clearTimeout(timer)
      off()
      resolve(outcome)
    }
    if (Number.isFinite(timeout)) {
      timer = clock.setTimeout(() => {
        const error = new StepTimeoutError(timeout)
        ctx.abort(error)
        finish({ ok: false, error, timedOut: true })
      }, timeout)
    }
    off = runSignal.onAbort(() => {
      ctx.abort(runSignal.reason)
      finish({ ok: false, error: toError(runSignal.reason), timedOut: false })
    })
    ;(result as PromiseLike<unknown>).then(
      (value) => finish({ ok: true, value }),
      (error: unknown) => finish({ ok: false, error: toError(error), timedOut: false }),
    )
  })
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  )
}
