import type { Clock, ClockTimer } from '../clock.js'

interface Timer {
  id: number
  at: number
  callback: () => void
}

/**
 * A clock whose time moves only when told. Timers fire in due order as time is advanced, with
 * pending promise callbacks (and I/O callbacks of the in-memory store) flushed between them, so
 * retries, backoff, timeouts, sleeps and leases run in a test without real waiting.
 *
 * @example
 * ```ts
 * const clock = new FakeClock()
 * const engine = new FluxEngine({ clock })
 * const running = engine.execute(flow, input)
 * await clock.advance(60_000) // a minute of backoff, instantly
 * const result = await running
 * ```
 */
export class FakeClock implements Clock {
  #now: number
  #seq = 0
  #timers: Timer[] = []

  constructor(start: number | Date = Date.UTC(2026, 0, 1)) {
    this.#now = typeof start === 'number' ? start : start.getTime()
  }

  now(): number {
    return this.#now
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    const timer: Timer = { id: ++this.#seq, at: this.#now + Math.max(0, ms), callback }
    this.#timers.push(timer)
    return { id: timer.id, unref() {} } as ClockTimer
  }

  clearTimeout(handle: ClockTimer): void {
    const id = (handle as { id?: number }).id
    this.#timers = this.#timers.filter((t) => t.id !== id)
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length
  }

  /** When the next timer is due, if any. */
  get nextAt(): number | undefined {
    return this.#timers.reduce<number | undefined>(
      (min, t) => (min === undefined || t.at < min ? t.at : min),
      undefined,
    )
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.#now + ms)
  }

  /** Moves time forward to `at`, firing due timers in order. */
  async advanceTo(at: number): Promise<void> {
    await flush()
    for (;;) {
      const next = this.#timers.filter((t) => t.at <= at).sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (!next) break
      this.#timers = this.#timers.filter((t) => t !== next)
      this.#now = Math.max(this.#now, next.at)
      next.callback()
      await flush()
    }
    this.#now = Math.max(this.#now, at)
    await flush()
  }

  /** Fires timers one after another until none is left or `limit` ms have passed. */
  async runAll(limit = 24 * 3600_000): Promise<void> {
    const end = this.#now + limit
    for (;;) {
      await flush()
      const next = this.nextAt
      if (next === undefined || next > end) break
      await this.advanceTo(next)
    }
  }

  /** Resolves once `predicate` holds, flushing callbacks (not time) in between. */
  async until(predicate: () => boolean, rounds = 200): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      if (predicate()) return
      await flush()
    }
    throw new Error('FakeClock.until: condition never became true')
  }
}

/** Lets queued promise callbacks and immediates run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
