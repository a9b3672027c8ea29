/**
 * Workers claim due runs (pending, lease expired, timer due, signal arrived) and drive them.
 * Polling is the baseline; a store that can push (Postgres LISTEN/NOTIFY) wakes idle workers
 * early. Notifications may be lost, so polling never stops.
 */
import { toError } from '../errors.js'
import type { RunSnapshot } from '../storage/contract.js'
import type { FlowLike } from '../workflow/definition.js'
import { DriveControl } from './control.js'
import type { Driver } from './driver.js'
import type { Registry } from './registry.js'
import { type DriveMode, EngineStopping } from './runner.js'

/** Options of `engine.worker()`. */
export interface WorkerOptions {
  /** Workflows this worker runs (registered on the engine). Default: every registered one. */
  workflows?: readonly FlowLike[]
  /** Runs driven at once. Default 10. */
  concurrency?: number
  /** Queues to take runs from. Default: all. */
  queues?: readonly string[]
  /**
   * Cluster-wide caps: queue name → the most runs of that queue driven at once by every worker
   * of every process sharing the store (runs holding a live lease). Merged over the engine's
   * `queueConcurrency`, queue by queue. A cap is enforced when a worker claims, by that worker,
   * so every worker that takes runs from the queue must be given the same caps; `execute`,
   * `start`, `resume` and `signal` run in the calling process and are not held back (their
   * runs count, though). Whole numbers ≥ 0 (`0` holds the queue); `Infinity` lifts a cap.
   *
   * @example
   * ```ts
   * await engine.worker({ workflows: [sendMail], concurrency: 20, queueConcurrency: { mail: 5 } }).start()
   * ```
   */
  queueConcurrency?: Readonly<Record<string, number>>
  /** Polling interval in ms. Default: the engine's `pollInterval`. */
  pollInterval?: number
  /** How long `stop()` lets in-flight runs finish before releasing them. Default 10 000 ms. */
  drainTimeout?: number
}

export class WorkflowWorker {
  readonly #driver: Driver
  readonly #registry: Registry
  readonly #names: string[] | undefined
  readonly #concurrency: number
  readonly #queues: readonly string[] | undefined
  readonly #queueLimits: Readonly<Record<string, number>> | undefined
  readonly #pollMs: number
  readonly #drainMs: number
  readonly #init: () => Promise<void>
  readonly #inflight = new Map<string, Promise<unknown>>()
  #stop: DriveControl | undefined
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #unsubscribe: (() => Promise<void>) | undefined

  constructor(
    driver: Driver,
    registry: Registry,
    options: WorkerOptions,
    pollMs: number,
    init: () => Promise<void>,
  ) {
    this.#driver = driver
    this.#registry = registry
    this.#names = options.workflows?.map((f) => registry.add(f).name)
    this.#concurrency = Math.max(1, options.concurrency ?? 10)
    this.#queues = options.queues
    this.#queueLimits = checkQueueConcurrency(options.queueConcurrency, 'worker')
    this.#pollMs = options.pollInterval ?? pollMs
    this.#drainMs = options.drainTimeout ?? 10_000
    this.#init = init
  }

  /** Runs currently driven by this worker. */
  get running(): number {
    return this.#inflight.size
  }

  /** Resolves once the worker is polling. Idempotent. */
  async start(): Promise<void> {
    if (this.#stop) return
    await this.#init()
    const stop = new DriveControl()
    this.#stop = stop
    const store = this.#driver.core.store
    if (store.subscribe) {
      try {
        this.#unsubscribe = await store.subscribe(() => this.#wake?.())
      } catch (error) {
        this.#driver.core.logger.warn(
          `worker: push notifications unavailable, polling only: ${toError(error).message}`,
        )
      }
    }
    this.#loop = this.#run(stop)
  }

  /** Stops claiming; lets in-flight runs finish for `drainTimeout`, then releases the rest. Idempotent. */
  async stop(): Promise<void> {
    const stop = this.#stop
    if (!stop) return
    this.#stop = undefined
    const drained = Promise.allSettled([...this.#inflight.values()])
    const clock = this.#driver.core.clock
    let timer: ReturnType<typeof clock.setTimeout> | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, this.#drainMs)
      timer.unref?.()
    })
    this.#wake?.()
    await Promise.race([drained, timeout])
    if (timer !== undefined) clock.clearTimeout(timer)
    stop.abort(new EngineStopping())
    await Promise.allSettled([...this.#inflight.values()])
    await this.#loop
    await this.#unsubscribe?.().catch(() => undefined)
    this.#unsubscribe = undefined
  }

  async #run(signal: DriveControl): Promise<void> {
    const core = this.#driver.core
    while (this.#stop === signal) {
      let claimed = 0
      const free = this.#concurrency - this.#inflight.size
      if (free > 0) {
        try {
          const keys = this.#registry.keys(this.#names)
          const snapshots =
            keys.length === 0
              ? []
              : await core.store.claimDue({
                  lease: this.#driver.lease(),
                  now: core.clock.now(),
                  definitionKeys: keys,
                  ...(this.#queues ? { queues: this.#queues } : {}),
                  ...(this.#queueLimits ? { queueLimits: this.#queueLimits } : {}),
                  limit: free,
                })
          for (const snapshot of snapshots) this.#spawn(snapshot, signal)
          claimed = snapshots.length
        } catch (error) {
          core.logger.warn(`worker: claiming failed: ${toError(error).message}`)
        }
      }
      if (this.#stop !== signal) break
      if (claimed === 0 || this.#inflight.size >= this.#concurrency) await this.#idle(this.#pollMs)
    }
  }

  #spawn(snapshot: RunSnapshot, signal: DriveControl): void {
    const { run } = snapshot
    // Our own run whose lease had lapsed while we still drive it: the claim only extended it.
    if (this.#driver.active.has(run.id)) return
    const resolved = this.#registry.get(run.definitionKey)
    const core = this.#driver.core
    if (!resolved) {
      void core.store.release({ id: run.id, token: core.token, now: core.clock.now() })
      return
    }
    const mode: DriveMode =
      run.status === 'pending' && snapshot.checkpoints.length === 0
        ? 'start'
        : run.status === 'running' || run.status === 'rolling_back'
          ? 'recover'
          : 'resume'
    const drive = this.#driver
      .driveOnce(snapshot, resolved, mode, signal)
      .catch((error) => core.logger.error(`worker: workflow ${run.id} stopped: ${toError(error).message}`))
      .finally(() => {
        this.#inflight.delete(run.id)
        this.#wake?.()
      })
    this.#inflight.set(run.id, drive)
  }

  #idle(ms: number): Promise<void> {
    const clock = this.#driver.core.clock
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => {
        this.#wake = undefined
        resolve()
      }, ms)
      this.#wake = () => {
        clock.clearTimeout(timer)
        this.#wake = undefined
        resolve()
      }
    })
  }
}

/**
 * Validates caps per queue (`queueConcurrency`) and returns a frozen copy; undefined when
 * there are none.
 * @throws {TypeError} for a cap that is not a whole number ≥ 0 or `Infinity`.
 */
export function checkQueueConcurrency(
  caps: Readonly<Record<string, number>> | undefined,
  where: string,
): Readonly<Record<string, number>> | undefined {
  if (caps === undefined) return undefined
  // No prototype: a queue may be called `__proto__`.
  const copy: Record<string, number> = Object.create(null)
  for (const [queue, cap] of Object.entries(caps)) {
    if (!(Number.isSafeInteger(cap) && cap >= 0) && cap !== Number.POSITIVE_INFINITY) {
      throw new TypeError(
        `${where}: queueConcurrency.${queue} must be a whole number ≥ 0 or Infinity, not ${String(cap)}`,
      )
    }
    copy[queue] = cap
  }
  return Object.keys(copy).length === 0 ? undefined : Object.freeze(copy)
}
