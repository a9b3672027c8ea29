/**
 * `FluxEngine`: the public API. Each method is a thin layer over the storage contract and the
 * {@link Driver}; the run semantics live in runner.ts and compensation.ts.
 */
import { systemClock } from '../clock.js'
import { toWorkflowState } from '../codec/checkpoint.js'
import { defaultSerializer } from '../codec/codec.js'
import { EngineClosedError, toError } from '../errors.js'
import { FluxConsoleLogger } from '../logger.js'
import { type FluxStore, isFluxStore } from '../storage/contract.js'
import { MemoryStorage } from '../storage/memory/memory-storage.js'
import type { FluxResult, WorkflowFilter, WorkflowState, WorkflowStorage } from '../types.js'
import type { FlowLike, ResolvedDefinition } from '../workflow/definition.js'
import { type BatchOptions, type BatchResult, runBatch } from './batch.js'
import type { EnqueueOptions, ExecuteOptions, FluxEngineConfig } from './config.js'
import type { EngineCore } from './core.js'
import { createRun, randomId, validateInput } from './create.js'
import { Driver } from './driver.js'
import { Emitter } from './emitter.js'
import { cancelRun, type ResumeOptions, resumeRun, type SignalOptions, signalRun } from './operations.js'
import { OriginStorageAdapter } from './origin-adapter.js'
import { Registry } from './registry.js'
import { checkQueueConcurrency, type WorkerOptions, WorkflowWorker } from './worker.js'

export type { EnqueueOptions, ExecuteOptions, FluxConfig, FluxEngineConfig } from './config.js'

/**
 * Runs workflows durably.
 *
 * @example
 * ```ts
 * const engine = new FluxEngine({ storage: new SqliteStorage({ path: './data/flux.db' }) })
 * const result = await engine.execute(orderFlow, { orderId: 'A-1' }, { id: 'order-A-1' })
 * ```
 */
export class FluxEngine {
  readonly #core: EngineCore
  readonly #driver: Driver
  readonly #registry = new Registry()
  readonly #recoverOnInit: boolean
  readonly #pollMs: number
  readonly #queueLimits: Readonly<Record<string, number>> | undefined
  readonly #background = new Set<Promise<unknown>>()
  readonly #workers = new Set<WorkflowWorker>()
  #ready: Promise<void> | undefined
  /** Set once `init()` has finished: the hot path skips awaiting it again. */
  #initialised = false
  #defaultWorker: WorkflowWorker | undefined
  #closed = false

  constructor(config: FluxEngineConfig = {}) {
    const logger = config.logger ?? new FluxConsoleLogger('[Flux]', { level: 'warn' })
    const serializer = config.serializer ?? defaultSerializer
    const raw = config.storage ?? new MemoryStorage()
    const store = isFluxStore(raw) ? raw : new OriginStorageAdapter(raw as WorkflowStorage, serializer)
    const workerId = config.workerId ?? `flux-${randomId().slice(0, 8)}`
    this.#core = {
      store,
      clock: config.clock ?? systemClock,
      serializer,
      logger,
      emitter: new Emitter(logger, config.trace, config.on),
      workerId,
      token: `${workerId}/${randomId()}`,
      leaseMs: config.leaseMs ?? 30_000,
      defaultRetries: config.defaultRetries ?? 3,
      defaultTimeout: config.defaultTimeout ?? 30_000,
      defaultBackoff: config.defaultBackoff ?? {},
      random: config.random ?? Math.random,
    }
    this.#pollMs = config.pollInterval ?? 1000
    this.#queueLimits = checkQueueConcurrency(config.queueConcurrency, 'FluxEngine')
    this.#driver = new Driver(this.#core, this.#registry, this.#pollMs)
    this.#recoverOnInit = config.recoverOnInit ?? true
    for (const flow of config.workflows ?? []) this.#registry.add(flow)
  }

  /** The durable store behind this engine. */
  get storage(): FluxStore {
    return this.#core.store
  }

  /** This process's worker id. */
  get workerId(): string {
    return this.#core.workerId
  }

  /** Makes a workflow runnable by recovery, workers and timers in this engine. */
  register(flow: FlowLike): this {
    this.#registry.add(flow)
    return this
  }

  /** Initialises storage (idempotent) and, unless disabled, starts a recovery pass in the background. */
  init(): Promise<void> {
    if (this.#closed) return Promise.reject(new EngineClosedError())
    this.#ready ??= (async () => {
      await this.#core.store.init()
      this.#initialised = true
      if (this.#recoverOnInit)
        this.#track(
          this.recover().catch((e) => this.#core.logger.warn(`recovery failed: ${toError(e).message}`)),
        )
    })()
    return this.#ready
  }

  /**
   * Runs a workflow and resolves with its result once it is at rest (completed, failed,
   * rolled back, suspended on a signal, cancelled). Rejects only for invalid input, unknown or
   * changed definitions and storage errors; step failures resolve with `status: 'failed'`.
   */
  async execute<TInput, TData = any>(
    flow: FlowLike<TInput, TData>,
    input: NoInfer<TInput>,
    options: ExecuteOptions = {},
  ): Promise<FluxResult<TData>> {
    const startedAt = this.#core.clock.now()
    const resolved = this.#registry.add(flow)
    const { snapshot, created } = await this.#create(resolved, input, options, 'running', true)
    if (!created) return (await this.#driver.settle(snapshot.run.id, startedAt)) as FluxResult<TData>
    return (await this.#driver.runToRest(snapshot, resolved, 'start', startedAt)) as FluxResult<TData>
  }

  /**
   * `start(flow, input)`: starts a run in this process without waiting for it; resolves with its
   * id once it is stored. `start()` (no arguments): starts this engine's worker loop, which wakes
   * due timers, continues runs whose owner died, and runs queued runs of registered workflows.
   */
  start(): Promise<void>
  start<TInput>(
    flow: FlowLike<TInput, any>,
    input: NoInfer<TInput>,
    options?: ExecuteOptions,
  ): Promise<string>
  async start<TInput>(
    flow?: FlowLike<TInput, any>,
    input?: TInput,
    options: ExecuteOptions = {},
  ): Promise<string | void> {
    if (flow === undefined) return this.startWorker()
    const startedAt = this.#core.clock.now()
    const resolved = this.#registry.add(flow)
    const { snapshot, created } = await this.#create(resolved, input, options, 'running')
    if (created) {
      this.#track(
        this.#driver.runToRest(snapshot, resolved, 'start', startedAt).catch((e) => {
          this.#core.logger.error(`workflow ${snapshot.run.id} stopped: ${toError(e).message}`)
        }),
      )
    }
    return snapshot.run.id
  }

  /** Stops the loop `start()` started; in-flight runs finish or are released. */
  async stop(): Promise<void> {
    await this.stopWorker()
  }

  /** Stores a run for a worker to pick up; runs nothing here. */
  async enqueue<TInput>(
    flow: FlowLike<TInput, any>,
    input: NoInfer<TInput>,
    options: EnqueueOptions = {},
  ): Promise<string> {
    const resolved = this.#registry.add(flow)
    const { snapshot } = await this.#create(resolved, input, options, 'pending')
    return snapshot.run.id
  }

  /** Continues a run from its current step, or from `fromStep`. Null for an unknown id. */
  async resume<TData = any>(
    flow: FlowLike<any, TData>,
    id: string,
    options: ResumeOptions = {},
  ): Promise<FluxResult<TData> | null> {
    await this.init()
    return resumeRun(this.#driver, this.#registry.add(flow), id, options) as Promise<FluxResult<TData> | null>
  }

  /** Re-runs a run from `stepName`. A completed commit on the way is skipped unless `recommit`. */
  async retryStep<TData = any>(
    flow: FlowLike<any, TData>,
    id: string,
    stepName: string,
    options: { recommit?: boolean } = {},
  ): Promise<FluxResult<TData> | null> {
    return this.resume(flow, id, { ...options, fromStep: stepName })
  }

  /** Delivers a signal; see {@link SignalOptions}. */
  async signal<TData = any>(
    flow: FlowLike<any, TData>,
    id: string,
    name: string,
    payload?: unknown,
    options: SignalOptions = {},
  ): Promise<FluxResult<TData>> {
    await this.init()
    return signalRun(this.#driver, this.#registry.add(flow), id, name, payload, options) as Promise<
      FluxResult<TData>
    >
  }

  /** Cancels a run that has not ended; its running attempt's `ctx.signal` is aborted. */
  async cancel(id: string, reason?: string): Promise<boolean> {
    await this.init()
    return cancelRun(this.#driver, id, reason)
  }

  /** A copy of a run's state, or null. */
  async get<TInput = any, TData = any>(id: string): Promise<WorkflowState<TInput, TData> | null> {
    await this.init()
    const snapshot = await this.#core.store.loadRun(id)
    return snapshot
      ? (toWorkflowState(this.#core.serializer, snapshot) as WorkflowState<TInput, TData>)
      : null
  }

  /** Runs, newest first; `limit` and `offset` combine freely. */
  async list(filter: WorkflowFilter = {}): Promise<WorkflowState[]> {
    await this.init()
    const statuses =
      filter.status === undefined ? undefined : Array.isArray(filter.status) ? filter.status : [filter.status]
    const { runs } = await this.#core.store.listRuns({
      ...(filter.name !== undefined ? { workflowName: filter.name } : {}),
      ...(statuses ? { statuses } : {}),
      ...(filter.limit !== undefined ? { limit: filter.limit } : {}),
      ...(filter.offset !== undefined ? { offset: filter.offset } : {}),
    })
    const snapshots = await Promise.all(runs.map((r) => this.#core.store.loadRun(r.id)))
    return snapshots.filter((s) => s !== null).map((s) => toWorkflowState(this.#core.serializer, s))
  }

  /**
   * Claims every run of a registered workflow that has lost its owner (lease expired or released,
   * timer due, signal arrived with nobody to continue it) and continues it; resolves with their
   * ids once each is at rest or parked. Never takes a run whose lease is still being renewed.
   * Queued runs (`enqueue`) are left to workers.
   */
  async recover(): Promise<string[]> {
    await this.init()
    const ids: string[] = []
    const drives: Promise<unknown>[] = []
    for (;;) {
      const keys = this.#registry.keys()
      if (keys.length === 0) break
      // Queued (`pending`) runs are left to workers, which respect their concurrency limits.
      const claimed = await this.#core.store.claimDue({
        lease: this.#driver.lease(),
        now: this.#core.clock.now(),
        definitionKeys: keys,
        kinds: ['orphaned', 'timer', 'signal'],
        // Taking over a capped queue's orphans must not drive more of them than its cap.
        ...(this.#queueLimits ? { queueLimits: this.#queueLimits } : {}),
        limit: 100,
      })
      if (claimed.length === 0) break
      for (const snapshot of claimed) {
        // Our own run whose lease had lapsed while we still drive it: the claim only extended it.
        if (this.#driver.active.has(snapshot.run.id)) continue
        ids.push(snapshot.run.id)
        const resolved = this.#registry.get(snapshot.run.definitionKey)!
        drives.push(
          this.#driver.driveOnce(snapshot, resolved, 'recover').catch((e) => {
            this.#core.logger.error(`recovery of ${snapshot.run.id} failed: ${toError(e).message}`)
          }),
        )
      }
    }
    await Promise.all(drives)
    return ids
  }

  /** Runs many inputs with bounded concurrency. */
  executeBatch<TInput, TData = any>(
    flow: FlowLike<TInput, TData>,
    inputs: readonly NoInfer<TInput>[],
    options: BatchOptions = {},
  ): Promise<BatchResult<TData>> {
    return runBatch((input) => this.execute(flow, input), inputs, options)
  }

  /** A worker that claims and runs due runs of `workflows` (all registered ones by default). */
  worker(options: WorkerOptions = {}): WorkflowWorker {
    for (const flow of options.workflows ?? []) this.#registry.add(flow)
    const caps = this.#queueLimits
      ? { ...this.#queueLimits, ...options.queueConcurrency }
      : options.queueConcurrency
    const worker = new WorkflowWorker(
      this.#driver,
      this.#registry,
      caps ? { ...options, queueConcurrency: caps } : options,
      this.#pollMs,
      () => this.init(),
    )
    this.#workers.add(worker)
    return worker
  }

  /** Starts this engine's own worker loop (timers, recovery, queued runs). */
  async startWorker(options: WorkerOptions = {}): Promise<void> {
    this.#defaultWorker ??= this.worker(options)
    await this.#defaultWorker.start()
  }

  /** Stops this engine's own worker loop gracefully. */
  async stopWorker(): Promise<void> {
    await this.#defaultWorker?.stop()
  }

  /** Stops workers and drives (their runs are released for others) and closes the storage. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#workers].map((w) => w.stop()))
    await this.#driver.close()
    await Promise.allSettled([...this.#background])
    if (this.#ready !== undefined) await this.#ready.catch(() => undefined)
    await this.#core.store.close()
  }

  async #create(
    resolved: ResolvedDefinition,
    input: unknown,
    options: EnqueueOptions,
    status: 'running' | 'pending',
    deferSync = false,
  ) {
    if (this.#closed) throw new EngineClosedError()
    if (resolved.def.validateInput !== undefined || resolved.def.schema !== undefined)
      await validateInput(resolved, input)
    if (!this.#initialised) await this.init()
    return createRun(this.#core, this.#driver, resolved, input, options, status, deferSync)
  }

  #track(promise: Promise<unknown>): void {
    this.#background.add(promise)
    void promise.finally(() => this.#background.delete(promise))
  }
}
