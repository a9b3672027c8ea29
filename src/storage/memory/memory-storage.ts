/**
 * In-memory store for tests and single-process use. Implements the whole durable contract with
 * the same semantics as the SQL adapters (leases, fencing, mailbox), so engine behaviour does not
 * change with the storage. Every verb runs to completion without an `await` between its read and
 * its write, which is what makes it atomic. It stores copies (strings and flat records), never
 * live objects. `close()` drops nothing: another engine may still read it.
 */
import { LeaseLostError } from '../../errors.js'
import {
  ACTIVE_STATUSES,
  type CancelRunParams,
  type CheckpointParams,
  type CheckpointRecord,
  type ClaimDueParams,
  type ClaimKind,
  type ClaimRunParams,
  type CreateRunParams,
  type CreateRunResult,
  copyRunRecord,
  type DeliverSignalParams,
  type DeliverSignalResult,
  type FluxStore,
  type LeaseParams,
  type ListRunsParams,
  type ListRunsResult,
  leaseIsFree,
  newRunRecord,
  type ParkParams,
  type ParkResult,
  queueLimitsOf,
  type ReleaseParams,
  type RenewLeasesParams,
  type ReplacementRun,
  type RunRecord,
  type RunSnapshot,
  type SignalRecord,
} from '../contract.js'
import { OriginStorageView } from '../origin-view.js'

interface Entry {
  run: RunRecord
  checkpoints: CheckpointRecord[]
  signals: SignalRecord[]
  seq: number
}

const DONE: Promise<void> = Promise.resolve()

const TERMINAL = new Set(['completed', 'failed', 'rolled_back', 'compensation_failed', 'cancelled'])

/**
 * In-memory storage.
 *
 * @example
 * ```ts
 * const engine = new FluxEngine({ storage: new MemoryStorage() })
 * ```
 */
export class MemoryStorage extends OriginStorageView implements FluxStore {
  readonly durable = true as const
  readonly #runs = new Map<string, Entry>()

  async init(): Promise<void> {}

  /** Keeps the data: other engines sharing this store may still read it. */
  async close(): Promise<void> {}

  async createRun({ run, lease }: CreateRunParams): Promise<CreateRunResult> {
    const existing = this.#runs.get(run.id)
    if (existing) return { created: false, run: copyRunRecord(existing.run) }
    const record = newRunRecord(run, lease)
    this.#runs.set(run.id, { run: record, checkpoints: [], signals: [], seq: 0 })
    return { created: true, run: copyRunRecord(record) }
  }

  async loadRun(id: string): Promise<RunSnapshot | null> {
    const entry = this.#runs.get(id)
    return entry ? snapshot(entry) : null
  }

  async getRun(id: string): Promise<RunRecord | null> {
    const entry = this.#runs.get(id)
    return entry ? copyRunRecord(entry.run) : null
  }

  async listRuns(params: ListRunsParams): Promise<ListRunsResult> {
    const statuses = params.statuses ? new Set(params.statuses) : null
    const matches: RunRecord[] = []
    for (const { run } of this.#runs.values()) {
      if (params.workflowName !== undefined && run.workflowName !== params.workflowName) continue
      if (statuses && !statuses.has(run.status)) continue
      if (params.idPrefix !== undefined && !run.id.startsWith(params.idPrefix)) continue
      if (params.createdAfter !== undefined && run.createdAt < params.createdAfter) continue
      if (params.createdBefore !== undefined && run.createdAt >= params.createdBefore) continue
      matches.push(run)
    }
    matches.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    const offset = Math.max(0, params.offset ?? 0)
    const end = params.limit === undefined ? undefined : offset + Math.max(0, params.limit)
    return { runs: matches.slice(offset, end).map(copyRunRecord), total: matches.length }
  }

  async claimRun({ id, lease, now, statuses }: ClaimRunParams): Promise<RunSnapshot | null> {
    const entry = this.#runs.get(id)
    if (!entry) return null
    if (statuses && !statuses.includes(entry.run.status)) return null
    if (!leaseIsFree(entry.run, lease, now)) return null
    take(entry, lease, now)
    return snapshot(entry)
  }

  async claimDue(params: ClaimDueParams): Promise<RunSnapshot[]> {
    const { lease, now, definitionKeys, queues, limit, kinds } = params
    const caps = queueLimitsOf(params)
    const keys = new Set(definitionKeys)
    const wanted = kinds ? new Set(kinds) : null
    const queueSet = queues ? new Set(queues) : null
    const due: Entry[] = []
    for (const entry of this.#runs.values()) {
      const { run } = entry
      if (!keys.has(run.definitionKey)) continue
      if (queueSet && !queueSet.has(run.queue)) continue
      if (!leaseIsFree(run, lease, now) || heldLive(run, lease.token, now)) continue
      const kind = dueKind(entry, now)
      if (kind && (!wanted || wanted.has(kind))) due.push(entry)
    }
    due.sort((a, b) => b.run.priority - a.run.priority || dueTime(a.run) - dueTime(b.run))
    const claimed = caps ? this.#withinCaps(due, caps, now, limit) : due.slice(0, Math.max(0, limit))
    for (const entry of claimed) take(entry, lease, now)
    return claimed.map(snapshot)
  }

  checkpoint(params: CheckpointParams): Promise<void> {
    // Settled at once, and the same settled promise every time: the write is done when this
    // returns, and a run's hot path then allocates nothing to wait for it.
    try {
      write(this.#fenced(params.id, params.token), params)
      return DONE
    } catch (error) {
      return Promise.reject(error)
    }
  }

  async park(params: ParkParams): Promise<ParkResult> {
    const entry = this.#fenced(params.id, params.token)
    if (params.unlessSignal !== undefined) {
      const signal = entry.signals.find((s) => s.name === params.unlessSignal)
      if (signal) return { parked: false, signal: { ...signal } }
    }
    write(entry, params)
    return { parked: true }
  }

  async renewLeases({ token, ids, expiresAt }: RenewLeasesParams): Promise<string[]> {
    const held: string[] = []
    for (const id of ids) {
      const entry = this.#runs.get(id)
      if (entry && entry.run.leaseToken === token) {
        entry.run.leaseExpiresAt = expiresAt
        held.push(id)
      }
    }
    return held
  }

  async release({ id, token, now }: ReleaseParams): Promise<void> {
    const entry = this.#runs.get(id)
    if (!entry || entry.run.leaseToken !== token) return
    entry.run.leaseOwner = null
    entry.run.leaseToken = null
    entry.run.leaseExpiresAt = null
    entry.run.updatedAt = now
    entry.run.revision++
  }

  async deliverSignal({ id, name, payload, now }: DeliverSignalParams): Promise<DeliverSignalResult> {
    const entry = this.#runs.get(id)
    if (!entry) return { outcome: 'not-found' }
    const { run } = entry
    if (TERMINAL.has(run.status)) return { outcome: 'ended', run: copyRunRecord(run) }
    const atWait = run.status === 'suspended' && run.waitingFor !== null
    if (atWait && run.waitingFor !== name) return { outcome: 'mismatch', run: copyRunRecord(run) }
    if (entry.signals.some((s) => s.name === name)) return { outcome: 'duplicate', run: copyRunRecord(run) }
    entry.signals.push({ name, payload, at: now })
    run.updatedAt = now
    run.revision++
    return { outcome: atWait ? 'delivered' : 'queued', run: copyRunRecord(run) }
  }

  async cancelRun({ id, now, error }: CancelRunParams): Promise<RunRecord | null> {
    const entry = this.#runs.get(id)
    if (!entry) return null
    const { run } = entry
    if (!TERMINAL.has(run.status)) {
      run.status = 'cancelled'
      run.error = error
      run.completedAt = now
      run.waitingFor = null
      run.wakeAt = null
      run.leaseOwner = null
      run.leaseToken = null
      run.leaseExpiresAt = null
      run.updatedAt = now
      run.revision++
    }
    return copyRunRecord(run)
  }

  async deleteRun(id: string): Promise<boolean> {
    return this.#runs.delete(id)
  }

  async replaceRun({ run, checkpoints }: ReplacementRun): Promise<void> {
    const previous = this.#runs.get(run.id)
    this.#runs.set(run.id, {
      run: { ...run, revision: Math.max(run.revision, (previous?.run.revision ?? 0) + 1) },
      checkpoints: checkpoints.map((c) => ({ ...c })),
      signals: previous?.signals ?? [],
      seq: checkpoints.reduce((max, c) => Math.max(max, c.seq), 0),
    })
  }

  /**
   * The first `limit` of `due` (in claim order) that fit their queue's cap, counting the live
   * leases already held on each capped queue. No `await` between this count and the caller's
   * `take`, so no other claim can slip in between.
   */
  #withinCaps(due: Entry[], caps: Map<string, number>, now: number, limit: number): Entry[] {
    const free = new Map(caps)
    for (const { run } of this.#runs.values()) {
      const left = free.get(run.queue)
      if (
        left !== undefined &&
        run.leaseToken !== null &&
        run.leaseExpiresAt !== null &&
        run.leaseExpiresAt > now
      )
        free.set(run.queue, left - 1)
    }
    const claimed: Entry[] = []
    const max = Math.trunc(limit)
    for (const entry of due) {
      if (claimed.length >= max) break
      const left = free.get(entry.run.queue)
      if (left === undefined) claimed.push(entry)
      else if (left > 0) {
        free.set(entry.run.queue, left - 1)
        claimed.push(entry)
      }
    }
    return claimed
  }

  #fenced(id: string, token: string): Entry {
    const entry = this.#runs.get(id)
    if (!entry || entry.run.leaseToken !== token) throw new LeaseLostError(id)
    return entry
  }
}

/** This token holds the run's lease and it has not expired: the caller is driving it. */
function heldLive(run: RunRecord, token: string, now: number): boolean {
  return run.leaseToken === token && !(run.leaseExpiresAt !== null && run.leaseExpiresAt <= now)
}

function snapshot(entry: Entry): RunSnapshot {
  return {
    run: copyRunRecord(entry.run),
    checkpoints: entry.checkpoints.slice(),
    signals: entry.signals.map((s) => ({ ...s })),
  }
}

function take(entry: Entry, lease: LeaseParams, now: number): void {
  entry.run.leaseOwner = lease.owner
  entry.run.leaseToken = lease.token
  entry.run.leaseExpiresAt = lease.expiresAt
  entry.run.updatedAt = now
  entry.run.revision++
}

function dueKind(entry: Entry, now: number): ClaimKind | undefined {
  const { run } = entry
  switch (run.status) {
    case 'pending':
      return run.wakeAt === null || run.wakeAt <= now ? 'pending' : undefined
    case 'suspended':
      if (run.waitingFor !== null && entry.signals.some((s) => s.name === run.waitingFor)) return 'signal'
      return run.wakeAt !== null && run.wakeAt <= now ? 'timer' : undefined
    default:
      return ACTIVE_STATUSES.includes(run.status) ? 'orphaned' : undefined
  }
}

function dueTime(run: RunRecord): number {
  return run.wakeAt ?? run.createdAt
}

function write(entry: Entry, params: CheckpointParams): void {
  const { run } = entry
  const patch = params.patch
  if (patch.status !== undefined) run.status = patch.status
  if (patch.cursor !== undefined) run.cursor = patch.cursor
  if (patch.waitingFor !== undefined) run.waitingFor = patch.waitingFor
  if (patch.wakeAt !== undefined) run.wakeAt = patch.wakeAt
  if (patch.error !== undefined) run.error = patch.error
  if (patch.meta !== undefined) run.meta = patch.meta
  if (patch.completedAt !== undefined) run.completedAt = patch.completedAt
  if (params.body !== undefined) {
    entry.seq++
    // Checkpoint records are never mutated after the push, so snapshots may share them.
    entry.checkpoints.push(Object.freeze({ seq: entry.seq, at: params.now, body: params.body }))
  }
  if (params.consumeSignal !== undefined) {
    const index = entry.signals.findIndex((s) => s.name === params.consumeSignal)
    if (index >= 0) entry.signals.splice(index, 1)
  }
  if (params.release) {
    run.leaseOwner = null
    run.leaseToken = null
    run.leaseExpiresAt = null
  } else if (params.leaseExpiresAt !== undefined) {
    run.leaseExpiresAt = params.leaseExpiresAt
  }
  run.updatedAt = params.now
  run.revision++
}
