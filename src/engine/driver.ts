/**
 * Runs drives: claims, the in-process loop that carries a run through sleeps, lease keeping,
 * and waiting for a run another owner drives. `FluxEngine`'s public methods are thin layers over
 * this class.
 */
import { sleepOn } from '../clock.js'
import { foldSnapshot, parseStoredError, publicStep, toErrorObject } from '../codec/checkpoint.js'
import { EngineClosedError, FluxError, toError, WorkflowNotFoundError } from '../errors.js'
import { type LeaseParams, leaseIsFree, type RunRecord, type RunSnapshot } from '../storage/contract.js'
import { type FluxResult, isTerminalStatus } from '../types.js'
import type { ResolvedDefinition } from '../workflow/definition.js'
import { type Abortable, DriveControl, fromSignal } from './control.js'
import type { EngineCore } from './core.js'
import { LeaseKeeper } from './leases.js'
import type { Registry } from './registry.js'
import { RunState } from './run-state.js'
import { type DriveEnd, type DriveMode, EngineStopping, Runner } from './runner.js'

/** A run is at rest when nothing will happen to it without outside help (a signal, an operator). */
export function isAtRest(run: Pick<RunRecord, 'status' | 'waitingFor'>): boolean {
  return (
    isTerminalStatus(run.status) ||
    run.status === 'paused' ||
    (run.status === 'suspended' && run.waitingFor !== null)
  )
}

const CONTINUABLE = ['pending', 'running', 'rolling_back', 'suspended'] as const

export class Driver {
  readonly core: EngineCore
  readonly registry: Registry
  readonly leases: LeaseKeeper
  /** Drives in flight here, by run id. */
  readonly active = new Map<string, { control: DriveControl; done: Promise<DriveEnd> }>()
  readonly #listeners = new Map<string, Set<() => void>>()
  readonly #closing = new AbortController()
  readonly #pollMs: number

  constructor(core: EngineCore, registry: Registry, pollMs: number) {
    this.core = core
    this.registry = registry
    this.leases = new LeaseKeeper(core.store, core.clock, core.token, core.leaseMs, core.logger)
    this.#pollMs = pollMs
  }

  get closingSignal(): AbortSignal {
    return this.#closing.signal
  }

  lease(): LeaseParams {
    const now = this.core.clock.now()
    return { owner: this.core.workerId, token: this.core.token, expiresAt: now + this.core.leaseMs }
  }

  /** Claims one run by id (if free and in a continuable status). */
  async claim(id: string, statuses: readonly string[] = CONTINUABLE): Promise<RunSnapshot | null> {
    if (this.active.has(id)) return null
    return this.core.store.claimRun({
      id,
      lease: this.lease(),
      now: this.core.clock.now(),
      statuses: statuses as RunRecord['status'][],
    })
  }

  /** One drive of a claimed run. */
  async driveOnce(
    snapshot: RunSnapshot,
    resolved: ResolvedDefinition,
    mode: DriveMode,
    stopSignal?: Abortable,
  ): Promise<{ end: DriveEnd; runner: Runner }> {
    const id = snapshot.run.id
    if (this.#closing.signal.aborted) {
      await this.core.store.release({ id, token: this.core.token, now: this.core.clock.now() })
      throw new EngineClosedError()
    }
    const input = this.#decodeInput(snapshot.run)
    const state = new RunState(this.core, resolved, snapshot, input)
    const control = new DriveControl()
    const off = stopSignal ? stopSignal.onAbort(() => control.abort(new EngineStopping())) : undefined
    const runner = new Runner(state, control, mode)
    const done = runner.drive()
    this.active.set(id, { control, done })
    this.leases.add(id, control)
    try {
      return { end: await done, runner }
    } finally {
      off?.()
      this.active.delete(id)
      this.leases.delete(id)
      this.#notify(id)
    }
  }

  /** Drives a claimed run until it rests, sleeping in-process through `Flux.sleep`. */
  async runToRest(
    snapshot: RunSnapshot,
    resolved: ResolvedDefinition,
    mode: DriveMode,
    startedAt: number,
  ): Promise<FluxResult> {
    let current = snapshot
    let currentMode = mode
    for (;;) {
      const { end, runner } = await this.driveOnce(current, resolved, currentMode)
      switch (end.kind) {
        case 'rest':
          return this.resultFromRunner(runner, startedAt)
        case 'released':
          throw new FluxError(
            `Engine stopped before workflow ${current.run.id} came to rest; it was released for another worker`,
            'ENGINE_CLOSED',
          )
        case 'lost':
          return this.settle(current.run.id, startedAt)
        case 'sleep': {
          const wait = end.wakeAt - this.core.clock.now()
          if (wait > 0)
            await sleepOn(this.core.clock, wait, fromSignal(this.#closing.signal)).catch(() => undefined)
          if (this.#closing.signal.aborted) throw new EngineClosedError()
          const next = await this.claim(current.run.id)
          if (!next) return this.settle(current.run.id, startedAt)
          current = next
          currentMode = 'resume'
        }
      }
    }
  }

  /**
   * Waits until a run is at rest and returns its result. Takes the run over whenever it is free
   * and due (its owner died, its timer is due), if this engine has its definition.
   */
  async settle(id: string, startedAt: number): Promise<FluxResult> {
    let delay = 5
    for (;;) {
      if (this.#closing.signal.aborted) throw new EngineClosedError()
      const local = this.active.get(id)
      if (local) {
        await local.done.catch(() => undefined)
        continue
      }
      const run = await this.core.store.getRun(id)
      if (!run) throw new WorkflowNotFoundError(id)
      if (isAtRest(run)) return this.resultFromStore(id, startedAt)
      const now = this.core.clock.now()
      const resolved = this.registry.get(run.definitionKey)
      const due =
        run.status !== 'suspended' && !(run.status === 'pending' && run.wakeAt !== null && run.wakeAt > now)
      const timerDue = run.status === 'suspended' && run.wakeAt !== null && run.wakeAt <= now
      if (resolved && (due || timerDue) && leaseIsFree(run, this.lease(), now)) {
        const snapshot = await this.claim(id)
        if (snapshot) return this.runToRest(snapshot, resolved, 'resume', startedAt)
      }
      let wait = Math.min(delay, this.#pollMs)
      if (run.leaseExpiresAt !== null && run.leaseToken !== null)
        wait = Math.min(wait, Math.max(1, run.leaseExpiresAt - now))
      if (run.wakeAt !== null && run.wakeAt > now) wait = Math.min(Math.max(wait, 1), run.wakeAt - now)
      await this.#waitFor(id, wait)
      delay = Math.min(delay * 2, this.#pollMs)
    }
  }

  resultFromRunner(runner: Runner, startedAt: number): FluxResult {
    const state = runner.state
    const result: FluxResult = {
      id: state.id,
      status: state.status,
      data: state.tracker.committed,
      history: state.history.map(publicStep),
      duration: this.core.clock.now() - startedAt,
      version: state.revision,
    }
    const error = runner.finalError ?? storedError(state.error)
    if (error && state.status !== 'completed') result.error = error
    return result
  }

  async resultFromStore(id: string, startedAt: number): Promise<FluxResult> {
    const snapshot = await this.core.store.loadRun(id)
    if (!snapshot) throw new WorkflowNotFoundError(id)
    return this.resultFromSnapshot(snapshot, startedAt)
  }

  resultFromSnapshot(snapshot: RunSnapshot, startedAt: number): FluxResult {
    const folded = foldSnapshot(this.core.serializer, snapshot)
    const { run } = snapshot
    const result: FluxResult = {
      id: run.id,
      status: run.status,
      data: folded.data,
      history: folded.history.map(publicStep),
      duration: Math.max(0, this.core.clock.now() - startedAt),
      version: run.revision,
    }
    const error = storedError(run.error)
    if (error && run.status !== 'completed') result.error = error
    return result
  }

  /** Aborts every drive (they release their leases) and waits for them. */
  async close(): Promise<void> {
    this.#closing.abort(new EngineClosedError())
    for (const { control } of this.active.values()) control.abort(new EngineStopping())
    await Promise.allSettled([...this.active.values()].map((a) => a.done))
    await this.leases.settled()
  }

  #decodeInput(run: RunRecord): unknown {
    try {
      return this.core.serializer.decode(run.input)
    } catch (error) {
      throw new FluxError(`Run ${run.id} has a corrupt input: ${toError(error).message}`, 'STORAGE')
    }
  }

  #notify(id: string): void {
    const set = this.#listeners.get(id)
    if (!set) return
    this.#listeners.delete(id)
    for (const wake of set) wake()
  }

  /** Resolves after `ms`, or earlier when a drive of `id` ends here. */
  #waitFor(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.#listeners.get(id) ?? new Set()
      const wake = () => {
        this.core.clock.clearTimeout(timer)
        set.delete(wake)
        resolve()
      }
      const timer = this.core.clock.setTimeout(wake, ms)
      set.add(wake)
      this.#listeners.set(id, set)
    })
  }
}

function storedError(text: string | null): Error | undefined {
  const stored = parseStoredError(text)
  return stored ? toErrorObject(stored) : undefined
}
