import {
  NonRetryableError,
  RetryableError,
  SerializationError,
  SignalTimeoutError,
  WorkflowCancelledError,
} from '../errors.js'
import type { BackoffFunction, BackoffOptions } from '../types.js'

/** The engine default: 1 s, doubling, capped at 30 s, full jitter. */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = Object.freeze({
  initial: 1000,
  factor: 2,
  max: 30_000,
  jitter: true,
})

/**
 * Delay before retry `n` (1-based): `min(max, initial · factor^(n−1))`; with `jitter` (the default)
 * drawn uniformly from [0, that] ("full jitter"). A `RetryableError` with `retryAfter` wins.
 */
export function backoffDelay(
  backoff: BackoffOptions | BackoffFunction | undefined,
  fallback: BackoffOptions,
  retry: number,
  error: Error,
  random: () => number = Math.random,
): number {
  if (error instanceof RetryableError && error.retryAfter !== undefined) return Math.max(0, error.retryAfter)
  if (typeof backoff === 'function') {
    const ms = backoff(retry, error)
    return Number.isFinite(ms) && ms > 0 ? ms : 0
  }
  const o = { ...DEFAULT_BACKOFF, ...fallback, ...backoff }
  const ceiling = Math.min(o.max, o.initial * o.factor ** (retry - 1))
  return o.jitter ? Math.floor(random() * ceiling) : ceiling
}

/** Errors no retry can fix. */
export function isFinalError(error: Error, retryIf?: (error: Error) => boolean): boolean {
  if (
    error instanceof NonRetryableError ||
    error instanceof SignalTimeoutError ||
    error instanceof SerializationError ||
    error instanceof WorkflowCancelledError
  ) {
    return true
  }
  if (retryIf) {
    try {
      return !retryIf(error)
    } catch {
      return true
    }
  }
  return false
}
