/**
 * The engine's source of time. Everything time-dependent (timeouts, backoff, leases, timers)
 * goes through it, so tests drive time with `FakeClock` from `fluxflow/testing`.
 */

/** An opaque timer handle. */
export interface ClockTimer {
  /** Let the process exit while only this timer is pending (no-op on fake clocks). */
  unref?(): unknown
}

/** Injected clock. */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, ms: number): ClockTimer
  clearTimeout(timer: ClockTimer): void
}

/** Wall-clock time and real timers. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number) =>
    setTimeout(callback, Math.min(Math.max(0, ms), 2 ** 31 - 1)),
  clearTimeout: (timer: ClockTimer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
})

/** Something that can be aborted: an `AbortSignal` adapter or a drive's control. */
export interface AbortLike {
  readonly aborted: boolean
  readonly reason: unknown
  onAbort(listener: () => void): () => void
}

/** Waits `ms` on `clock`; rejects with the abort reason if aborted. `unref` lets the process exit meanwhile. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortLike, unref = false): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    let off = () => {}
    const timer = clock.setTimeout(() => {
      off()
      resolve()
    }, ms)
    if (unref) timer.unref?.()
    if (signal) {
      off = signal.onAbort(() => {
        clock.clearTimeout(timer)
        reject(signal.reason)
      })
    }
  })
}
