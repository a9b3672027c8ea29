import type { Clock, ClockTimer } from '../clock.js'
import { LeaseLostError, toError } from '../errors.js'
import type { FluxStore } from '../storage/contract.js'
import type { FluxLogger } from '../types.js'
import type { DriveControl } from './control.js'

/**
 * Keeps the leases of the runs this engine is driving alive: one batched `renewLeases` every
 * third of `leaseMs`. A run whose lease is found lost (another owner took it after it expired, or
 * it was cancelled) has its drive aborted with `LeaseLostError`. The timer only exists while
 * there are leases to keep, and never keeps the process alive by itself.
 */
export class LeaseKeeper {
  readonly #held = new Map<string, DriveControl>()
  readonly #store: FluxStore
  readonly #clock: Clock
  readonly #token: string
  readonly #leaseMs: number
  readonly #logger: FluxLogger
  #timer: ClockTimer | undefined
  #renewing: Promise<void> | undefined

  constructor(store: FluxStore, clock: Clock, token: string, leaseMs: number, logger: FluxLogger) {
    this.#store = store
    this.#clock = clock
    this.#token = token
    this.#leaseMs = leaseMs
    this.#logger = logger
  }

  add(id: string, control: DriveControl): void {
    this.#held.set(id, control)
    this.#arm()
  }

  /** Forgets a lease. The timer is left to lapse on its own: re-arming it per run would cost more than it saves. */
  delete(id: string): void {
    this.#held.delete(id)
  }

  get size(): number {
    return this.#held.size
  }

  /** Waits for a renewal in flight (for `close()`). */
  async settled(): Promise<void> {
    await this.#renewing
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#held.size === 0) return
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined
        this.#renewing = this.#renew().finally(() => {
          this.#renewing = undefined
          this.#arm()
        })
      },
      Math.max(1, Math.floor(this.#leaseMs / 3)),
    )
    this.#timer.unref?.()
  }

  async #renew(): Promise<void> {
    const ids = [...this.#held.keys()]
    if (ids.length === 0) return
    const now = this.#clock.now()
    try {
      const kept = new Set(
        await this.#store.renewLeases({ token: this.#token, ids, now, expiresAt: now + this.#leaseMs }),
      )
      for (const id of ids) {
        if (kept.has(id)) continue
        const control = this.#held.get(id)
        if (control && !control.aborted) {
          this.#logger.warn(`lease on workflow ${id} was lost; stopping its drive here`)
          control.abort(new LeaseLostError(id))
        }
      }
    } catch (error) {
      // A failed renewal is retried next round; the lease is only lost once another owner takes it.
      this.#logger.warn(`lease renewal failed: ${toError(error).message}`)
    }
  }
}
