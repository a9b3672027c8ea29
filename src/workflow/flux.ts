import { NonRetryableError } from '../errors.js'
import type { FluxSleepResult, FluxWaitResult } from '../types.js'

/**
 * Control-flow helpers for step handlers.
 *
 * @example
 * ```ts
 * .step('approval', () => Flux.wait('approved', { timeout: 86_400_000 }))
 * .step('cool-off', () => Flux.sleep(60_000))
 * .step('check', (ctx) => { if (!ctx.data.ok) Flux.fail('not eligible') })
 * ```
 */
export const Flux = Object.freeze({
  /** Suspends the run until `engine.signal(flow, id, signal, payload)`; fails the step after `timeout` ms. */
  wait(signal: string, options: { timeout?: number } = {}): FluxWaitResult {
    if (typeof signal !== 'string' || signal === '') throw new TypeError('Flux.wait needs a signal name')
    const timeout = options.timeout
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) {
      throw new TypeError(
        `Flux.wait: timeout must be a positive number of milliseconds (got ${String(timeout)})`,
      )
    }
    return timeout === undefined ? { __kind: 'flux_wait', signal } : { __kind: 'flux_wait', signal, timeout }
  },
  /** Parks the run for `ms` milliseconds; durable: the wake-up time is stored. */
  sleep(ms: number): FluxSleepResult {
    if (!(typeof ms === 'number' && ms >= 0 && Number.isFinite(ms))) {
      throw new TypeError(`Flux.sleep needs a non-negative number of milliseconds (got ${String(ms)})`)
    }
    return { __kind: 'flux_sleep', ms }
  },
  /** Parks the run until a date; durable. */
  sleepUntil(date: Date | number): FluxSleepResult {
    const until = typeof date === 'number' ? date : date instanceof Date ? date.getTime() : Number.NaN
    if (!Number.isFinite(until))
      throw new TypeError('Flux.sleepUntil needs a valid Date or epoch milliseconds')
    return { __kind: 'flux_sleep', until }
  },
  /** Fails the current step at once, with no further retries. */
  fail(error: string | Error): never {
    if (error instanceof NonRetryableError) throw error
    if (error instanceof Error) throw new NonRetryableError(error.message, { cause: error })
    throw new NonRetryableError(String(error))
  },
})

/** True for what `Flux.wait` returns. */
export function isWaitResult(value: unknown): value is FluxWaitResult {
  return typeof value === 'object' && value !== null && (value as FluxWaitResult).__kind === 'flux_wait'
}

/** True for what `Flux.sleep`/`Flux.sleepUntil` return. */
export function isSleepResult(value: unknown): value is FluxSleepResult {
  return typeof value === 'object' && value !== null && (value as FluxSleepResult).__kind === 'flux_sleep'
}
