/**
 * The durable storage contract.
 *
 * A run is one row ({@link RunRecord}) plus an append-only list of checkpoints (each an opaque,
 * codec-encoded body holding the step records it changed and the `ctx.data` keys it wrote) plus a
 * mailbox of signals not yet consumed. Every verb is atomic on its own; no transaction handle ever
 * reaches the engine. Every write made by the engine while it runs a run is fenced by the lease
 * token it got from a claim: a write whose token no longer matches changes nothing and rejects
 * with `LeaseLostError` — never a silent no-op.
 *
 * Adapters import only this file (and the error classes). The engine never imports an adapter.
 * `src/testing/conformance.ts` is the executable form of this contract.
 */
import type { WorkflowStatus } from '../types.js'

/** The stored row of a run. Times are epoch milliseconds; encoded fields are codec strings. */
export interface RunRecord {
  id: string
  workflowName: string
  /** Explicit `.version()` of the definition, if any. */
  workflowVersion: string | null
  /** Hash of the step names and kinds. */
  definitionHash: string
  /** `name@version` when a version is set, else `name#hash`: what a worker must have to run it. */
  definitionKey: string
  status: WorkflowStatus
  queue: string
  /** Higher runs first among due runs. */
  priority: number
  /** Encoded input. */
  input: string
  /** Index of the step the run is at. */
  cursor: number
  /** Signal name while suspended on a wait. */
  waitingFor: string | null
  /** When a parked run (sleep, wait timeout, delayed enqueue) is due. */
  wakeAt: number | null
  leaseOwner: string | null
  leaseToken: string | null
  leaseExpiresAt: number | null
  /** JSON of {@link StoredError} for runs that failed. */
  error: string | null
  /** JSON of {@link RunMeta}. */
  meta: string
  createdAt: number
  updatedAt: number
  completedAt: number | null
  /** Incremented by every write. */
  revision: number
}

/** A failure as stored: enough to rebuild an `Error` with its stack. */
export interface StoredError {
  name: string
  message: string
  stack?: string
  code?: string
}

/** Small engine-owned JSON kept on the run row. */
export interface RunMeta {
  /**
   * Step names and kinds (`s`tep / `c`ommit) of the definition the run started with, and flags
   * for the viewer's graph: `w` the step has a `when` condition, `u` it has a compensation.
   */
  steps: [string, 's' | 'c', string?][]
  /** Step indices still to compensate, in the order they will run. */
  compensate?: number[]
  /** Index of the step whose failure started the rollback. */
  failedStep?: number
}

/** One checkpoint: the engine's encoded delta, in write order. */
export interface CheckpointRecord {
  seq: number
  at: number
  body: string
}

/** A signal stored in a run's mailbox and not yet consumed. */
export interface SignalRecord {
  name: string
  /** Encoded payload. */
  payload: string
  at: number
}

/** A run with everything needed to continue it. */
export interface RunSnapshot {
  run: RunRecord
  checkpoints: CheckpointRecord[]
  signals: SignalRecord[]
}

/** A lease to take: who takes it, with which token, until when. */
export interface LeaseParams {
  /** Stable id of the worker process (`workerId`). */
  owner: string
  /** Unique per engine incarnation; what fences writes. */
  token: string
  expiresAt: number
}

/** The fields of a run a checkpoint may change. */
export type RunPatch = Partial<
  Pick<RunRecord, 'status' | 'cursor' | 'waitingFor' | 'wakeAt' | 'error' | 'meta' | 'completedAt'>
>

/** A run as created; the storage fills `revision` and the lease fields. */
export type NewRun = Omit<RunRecord, 'revision' | 'leaseOwner' | 'leaseToken' | 'leaseExpiresAt'>

export interface CreateRunParams {
  run: NewRun
  /** Take the lease at once (the creating engine runs it). */
  lease?: LeaseParams
  /** See {@link CheckpointParams.sync}. Default true. */
  sync?: boolean
}

export interface CreateRunResult {
  /** False when a run with that id already existed; nothing was written then. */
  created: boolean
  run: RunRecord
}

export interface ClaimRunParams {
  id: string
  lease: LeaseParams
  now: number
  /** Claim only when the run is in one of these statuses. */
  statuses?: readonly WorkflowStatus[]
}

/**
 * Why a run is due: `pending` (queued, delay passed), `orphaned` (running or rolling back with a
 * free lease: its owner died or let go), `timer` (suspended with a due `wakeAt`), `signal`
 * (suspended on a wait whose signal is in the mailbox).
 */
export type ClaimKind = 'pending' | 'orphaned' | 'timer' | 'signal'

export interface ClaimDueParams {
  lease: LeaseParams
  now: number
  /** Only these kinds of due runs; all when absent. (Recovery skips `pending`: queued work is for workers.) */
  kinds?: readonly ClaimKind[]
  /** Only runs whose `definitionKey` is one of these. */
  definitionKeys: readonly string[]
  /** Only runs on these queues; all when absent. */
  queues?: readonly string[]
  limit: number
  /**
   * Cluster-wide caps: queue name → the most runs of that queue that may hold a live lease
   * (`leaseToken` set and `leaseExpiresAt > now`) at once, whoever holds them.
   *
   * For each queue named here, the claim never leaves more than that many runs of the queue
   * holding a live lease: those already leased by anyone plus those this claim takes. Every run
   * the claim takes costs one slot, even one whose live lease it takes over from an earlier
   * incarnation of the same owner (so a queue that is full of such leases is taken over once
   * they expire, as any other owner's would be): the cap is never exceeded, at worst a slot is
   * reclaimed one lease period late.
   *
   * The count and the claim are atomic across processes: two claimers passing a limit for one
   * queue at the same time are serialised on that queue, so both cannot take its last slot.
   * Leases taken without a limit — `createRun` with a lease (`execute`, `start`), `claimRun`
   * (`resume`, `signal`), a `claimDue` that does not name the queue — are counted but not
   * held back: every claimer that should respect a cap must pass it.
   *
   * Runs of queues not named here are not limited. Candidates are still taken in the usual
   * order (priority desc, then oldest due), skipping those whose queue is full, so a full queue
   * holds back only its own runs, never the others'. Each value is a whole number ≥ 0 (`0` holds
   * the queue); `Infinity` is the same as not naming the queue. See {@link queueLimitsOf}.
   */
  queueLimits?: Readonly<Record<string, number>>
}

export interface CheckpointParams {
  id: string
  token: string
  now: number
  patch: RunPatch
  /** Encoded checkpoint to append. */
  body?: string
  /** Remove this signal from the mailbox in the same write (a wait consumed it). */
  consumeSignal?: string
  /** Extend the lease to this time. */
  leaseExpiresAt?: number
  /** Drop the lease (the run is at rest, parked, or handed back). */
  release?: boolean
  /**
   * Default true: the promise resolves once the write is on stable storage. False: it resolves
   * once the write is applied, visible to other processes, and would survive a crash of the
   * calling process (SQLite: WAL frame written without fsync; Postgres: committed with
   * `synchronous_commit = off`); a later synced write makes it durable too. The engine uses it
   * for the checkpoints of plain steps and for bookkeeping that at-least-once may lose on power
   * failure — never for a commit, a park, or an outcome it reports.
   */
  sync?: boolean
}

export interface ParkParams extends CheckpointParams {
  /**
   * Park only if the mailbox holds no signal of this name; otherwise write nothing, keep the
   * lease, and return the signal so the engine consumes it instead.
   */
  unlessSignal?: string
}

export type ParkResult = { parked: true } | { parked: false; signal: SignalRecord }

export interface RenewLeasesParams {
  token: string
  ids: readonly string[]
  now: number
  expiresAt: number
}

export interface ReleaseParams {
  id: string
  token: string
  now: number
}

export interface DeliverSignalParams {
  id: string
  name: string
  payload: string
  now: number
}

/**
 * What became of a signal:
 * - `delivered`: the run was suspended waiting for it; it is stored and the run is due.
 * - `queued`: the run has not reached a wait yet; it is stored in the mailbox.
 * - `not-found`, `ended` (terminal status), `mismatch` (waits for another name),
 *   `duplicate` (one of that name is stored and not consumed): nothing was written.
 */
export type DeliverSignalResult =
  | { outcome: 'delivered' | 'queued'; run: RunRecord }
  | { outcome: 'ended' | 'mismatch' | 'duplicate'; run: RunRecord }
  | { outcome: 'not-found' }

export interface CancelRunParams {
  id: string
  now: number
  /** JSON of a {@link StoredError}. */
  error: string
}

export interface ListRunsParams {
  workflowName?: string
  statuses?: readonly WorkflowStatus[]
  /** Runs whose id starts with this. */
  idPrefix?: string
  createdAfter?: number
  createdBefore?: number
  limit?: number
  offset?: number
}

export interface ListRunsResult {
  runs: RunRecord[]
  total: number
}

/**
 * The verbs of a durable store. Each is atomic on its own.
 *
 * Ordering: checkpoints with the same token for the same run are applied in call order, and their
 * promises settle in call order, even if the caller did not await the previous call (the engine
 * may issue several writes of a run before awaiting the last one).
 */
export interface FluxStore {
  /** Marks this object as implementing the durable contract. */
  readonly durable: true
  init(): Promise<void>
  close(): Promise<void>
  /** Insert if absent; never overwrites. */
  createRun(params: CreateRunParams): Promise<CreateRunResult>
  loadRun(id: string): Promise<RunSnapshot | null>
  getRun(id: string): Promise<RunRecord | null>
  /** Newest first (`createdAt` desc, then id desc). */
  listRuns(params: ListRunsParams): Promise<ListRunsResult>
  /**
   * Take the lease of one run if it is free: no lease, an expired one, or one held by an earlier
   * incarnation of the same owner. Re-claiming with the token that holds it succeeds.
   */
  claimRun(params: ClaimRunParams): Promise<RunSnapshot | null>
  /**
   * Take the leases of up to `limit` runs that need work: pending and due; running or
   * rolling back with a free lease (their owner died or let go); suspended with a due `wakeAt`;
   * suspended on a wait whose signal is in the mailbox. Higher priority first, then oldest due.
   * A run the claimer's own token holds is skipped while that lease is live (the claimer is
   * driving it) and due again once it expired (a claim whose answer was lost).
   */
  claimDue(params: ClaimDueParams): Promise<RunSnapshot[]>
  /** Fenced write of a checkpoint. Rejects with `LeaseLostError` when the token does not hold the lease. */
  checkpoint(params: CheckpointParams): Promise<void>
  /** Fenced suspend: see {@link ParkParams.unlessSignal}. */
  park(params: ParkParams): Promise<ParkResult>
  /** Extends the leases this token still holds; returns their ids. */
  renewLeases(params: RenewLeasesParams): Promise<string[]>
  /** Drops the lease if this token holds it; a no-op otherwise. */
  release(params: ReleaseParams): Promise<void>
  deliverSignal(params: DeliverSignalParams): Promise<DeliverSignalResult>
  /** Unfenced: a run not yet terminal becomes `cancelled` and loses its lease. Null if absent. */
  cancelRun(params: CancelRunParams): Promise<RunRecord | null>
  deleteRun(id: string): Promise<boolean>
  /** Admin, unfenced: overwrite a run and its checkpoints wholesale (the origin's `save`, imports). */
  replaceRun(params: ReplacementRun): Promise<void>
  /**
   * Optional: wake-ups pushed by the store (Postgres LISTEN/NOTIFY). Returns an unsubscribe.
   * Polling is always the fallback.
   */
  subscribe?(listener: (event: StoreEvent) => void): Promise<() => Promise<void>>
}

/** The full replacement of a run that `replaceRun` writes. */
export interface ReplacementRun {
  run: RunRecord
  checkpoints: CheckpointRecord[]
}

/** A push notification from the store: a run became due. */
export interface StoreEvent {
  kind: 'run' | 'signal' | 'timer'
  id?: string
}

// The rules every adapter shares (lease predicate, record shapes, identifiers), kept beside the
// contract but in their own file so this one stays the interface.
export {
  ACTIVE_STATUSES,
  assertIdentifier,
  copyRunRecord,
  isFluxStore,
  leaseIsFree,
  newRunRecord,
  queueLimitsOf,
} from './rules.js'
