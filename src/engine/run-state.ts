/**
 * The in-process state of one run while an engine drives it, and how it reaches storage.
 *
 * `write()` issues a fenced checkpoint without waiting for it (the store applies a run's
 * checkpoints in call order, and the SQL stores commit the ones of many runs that queue up
 * together). The runner waits (`settled`/`barrier()`) before every step, so a step starts only
 * after everything before it is applied; whether it is also fsynced is the write's `sync` flag
 * (see docs/ARCHITECTURE.md, "Step boundaries and sync").
 */
import {
  applyBody,
  type CheckpointBody,
  decodeBody,
  type FoldedRun,
  foldSnapshot,
  parseMeta,
  pendingStep,
  type StoredStep,
} from '../codec/checkpoint.js'
import { SerializationError } from '../errors.js'
import type {
  CheckpointParams,
  ParkResult,
  RunMeta,
  RunPatch,
  RunSnapshot,
  SignalRecord,
} from '../storage/contract.js'
import type { FluxLogger, WorkflowStatus } from '../types.js'
import type { ResolvedDefinition } from '../workflow/definition.js'
import type { ContextSource } from './context.js'
import type { EngineCore } from './core.js'
import { DataTracker } from './data-tracker.js'

export class RunState implements ContextSource {
  readonly core: EngineCore
  readonly resolved: ResolvedDefinition
  readonly id: string
  readonly name: string
  readonly input: unknown
  readonly logger: FluxLogger
  readonly createdAt: number
  readonly tracker: DataTracker
  history: StoredStep[]
  signals: Record<string, unknown>
  mailbox: SignalRecord[]
  status: WorkflowStatus
  cursor: number
  revision: number
  waitingFor: string | null
  wakeAt: number | null
  meta: RunMeta
  error: string | null
  /** Set when this drive started (for `duration`). */
  readonly startedAt: number
  /** Every checkpoint body of the run, to rebuild data after a failed attempt. */
  readonly #bodies: { seq: number; body: string }[]
  readonly #dirtySteps = new Set<number>()
  #tail: Promise<unknown> = Promise.resolve()
  #last: Promise<unknown> | undefined
  readonly #onFailure = (error: unknown): void => {
    this.#failure ??= error
  }
  #failure: unknown
  #metaDirty = false

  constructor(core: EngineCore, resolved: ResolvedDefinition, snapshot: RunSnapshot, input: unknown) {
    const { run } = snapshot
    this.core = core
    this.resolved = resolved
    this.id = run.id
    this.name = run.workflowName
    this.input = input
    this.logger = core.logger
    this.createdAt = run.createdAt
    // A run just created by this definition has nothing to fold: skip decoding its meta.
    const folded: FoldedRun =
      snapshot.checkpoints.length === 0 && run.meta === resolved.metaJson
        ? { history: resolved.shape.map(([name]) => pendingStep(name)), data: {}, signals: {} }
        : foldSnapshot(core.serializer, snapshot)
    this.history = folded.history
    // A definition of the same explicit version may have more steps than the run started with.
    for (let i = this.history.length; i < resolved.shape.length; i++)
      this.history.push(pendingStep(resolved.shape[i]![0]))
    this.signals = folded.signals
    this.tracker = new DataTracker(folded.data)
    this.mailbox = snapshot.signals.slice()
    this.status = run.status
    this.cursor = run.cursor
    this.revision = run.revision
    this.waitingFor = run.waitingFor
    this.wakeAt = run.wakeAt
    this.meta = run.meta === resolved.metaJson ? { steps: resolved.metaSteps } : parseMeta(run)
    this.error = run.error
    this.startedAt = core.clock.now()
    this.#bodies = snapshot.checkpoints.map((c) => ({ seq: c.seq, body: c.body }))
  }

  /**
   * Replaces step `index`'s record; it goes out with the next write. Fields set to `undefined` are
   * dropped (except `output`, whose value may be `undefined`), so records stay plain JSON and take
   * the serializer's fast path.
   */
  setStep(index: number, record: StoredStep): void {
    // The engine clears a field by setting it to undefined; only these are ever cleared.
    const clean =
      (record.wakeAt === undefined && 'wakeAt' in record) || (record.error === undefined && 'error' in record)
        ? dropUndefined(record)
        : record
    this.history[index] = clean
    this.#dirtySteps.add(index)
  }

  /** Marks step `index` as changed in place; it goes out with the next write. */
  touchStep(index: number): void {
    this.#dirtySteps.add(index)
  }

  /** Replaces the run meta; it goes out with the next write. */
  setMeta(meta: RunMeta): void {
    this.meta = meta
    this.#metaDirty = true
  }

  /**
   * Encodes the pending step records and, with `data`, the attempt's data patch.
   * @throws {SerializationError} naming the path of a value that cannot be stored (`data.user.save`).
   */
  encodeBody(data: boolean): string | undefined {
    const body: CheckpointBody = {}
    if (this.#dirtySteps.size > 0) {
      const h: [number, StoredStep][] = []
      for (const i of this.#dirtySteps) h.push([i, this.history[i]!])
      body.h = h
    }
    if (data && this.tracker.dirty) {
      const patch = this.tracker.patch()
      if (patch.replaced) body.x = 1
      if (patch.count > 0) body.d = patch.set
      if (patch.unset !== undefined) body.u = patch.unset
    }
    if (body.h === undefined && body.d === undefined && body.u === undefined && body.x === undefined)
      return undefined
    try {
      return this.core.serializer.encode(body, '')
    } catch (error) {
      if (error instanceof SerializationError)
        throw new SerializationError(mapPath(error.path), reason(error), { cause: error.cause })
      throw error
    }
  }

  /** Issues a fenced checkpoint of the row fields, pending records and `body`; does not wait. */
  write(
    options: { body?: string | undefined; consumeSignal?: string; release?: boolean; sync?: boolean } = {},
  ): void {
    const now = this.core.clock.now()
    const patch = this.#patch(now, options.release === true)
    const body = options.body
    this.#dirtySteps.clear()
    this.#metaDirty = false
    if (body !== undefined) this.#bodies.push({ seq: this.#bodies.length + 1, body })
    this.revision++
    const params: CheckpointParams = { id: this.id, token: this.core.token, now, patch }
    if (body !== undefined) params.body = body
    if (options.consumeSignal !== undefined) params.consumeSignal = options.consumeSignal
    if (options.release) params.release = true
    else params.leaseExpiresAt = now + this.core.leaseMs
    if (options.sync === false) params.sync = false
    const promise = this.core.store.checkpoint(params)
    // A run's writes settle in call order (contract), so waiting for the last one waits for all.
    // A store may hand back the same settled promise for every write (MemoryStorage does): it
    // needs its failure handler only once.
    if (promise !== this.#last) {
      this.#last = promise
      this.#tail = promise.then(undefined, this.#onFailure)
    }
  }

  /**
   * Parks the run (status, waitingFor, wakeAt as set) and releases its lease, unless the mailbox
   * already holds `unlessSignal` — then nothing is written and the signal is returned.
   */
  async park(body: string | undefined, unlessSignal: string): Promise<ParkResult> {
    const now = this.core.clock.now()
    const result = await this.core.store.park({
      id: this.id,
      token: this.core.token,
      now,
      patch: this.#patch(now, true),
      ...(body !== undefined ? { body } : {}),
      unlessSignal,
      release: true,
    })
    if (result.parked) {
      this.#dirtySteps.clear()
      this.#metaDirty = false
      if (body !== undefined) this.#bodies.push({ seq: this.#bodies.length + 1, body })
      this.revision++
    }
    return result
  }

  #patch(now: number, release: boolean): RunPatch {
    const patch: RunPatch = {
      status: this.status,
      cursor: this.cursor,
      waitingFor: this.waitingFor,
      wakeAt: this.wakeAt,
      error: this.error,
    }
    if (this.#metaDirty) patch.meta = JSON.stringify(this.meta)
    if (release) patch.completedAt = isRestStatus(this.status) ? now : null
    return patch
  }

  /** Resolves when every issued write is durable; rejects with the first write's failure. */
  async barrier(): Promise<void> {
    await this.#tail
    if (this.#failure !== undefined) throw this.#failure
  }

  /** Resolves when every issued write has settled (check {@link failure} afterwards). */
  get settled(): Promise<unknown> {
    return this.#tail
  }

  /** The first write failure, if any (checked without waiting). */
  get failure(): unknown {
    return this.#failure
  }

  /** Rebuilds the committed data from every stored body (after a failed attempt). */
  refold(): void {
    const state: FoldedRun = { history: [], data: {}, signals: {} }
    for (const { seq, body } of this.#bodies)
      applyBody(state, decodeBody(this.core.serializer, this.id, seq, body))
    this.tracker.reset(state.data)
  }

  /** Records the body as stored once the attempt that produced it is accepted. */
  get bodies(): readonly { seq: number; body: string }[] {
    return this.#bodies
  }

  /** Elapsed ms since the run was created (its whole life, across processes and resumes). */
  elapsed(): number {
    return this.core.clock.now() - this.createdAt
  }
}

/** Statuses at which a run is handed back (lease released) with nothing more to do for now. */
export function isRestStatus(status: WorkflowStatus): boolean {
  return (
    status === 'completed' ||
    status === 'failed' ||
    status === 'rolled_back' ||
    status === 'compensation_failed' ||
    status === 'cancelled'
  )
}

/** `.d.user.save` → `data.user.save`; `.h[0][1].output` → `history[0].output`. */
function mapPath(path: string): string {
  if (path.startsWith('.d')) return `data${path.slice(2)}`
  const history = /^\.h\[\d+\]\[1\](.*)$/.exec(path)
  if (history) return `history${history[1] ?? ''}`
  return path.replace(/^\./, '') || 'data'
}

function reason(error: SerializationError): string {
  const i = error.message.indexOf(': ')
  return i >= 0 ? error.message.slice(i + 2) : error.message
}

function dropUndefined(record: StoredStep): StoredStep {
  const clean = {} as Record<string, unknown>
  for (const key in record) {
    const value = (record as unknown as Record<string, unknown>)[key]
    if (value !== undefined || key === 'output') clean[key] = value
  }
  return clean as unknown as StoredStep
}
