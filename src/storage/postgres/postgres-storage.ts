/**
 * Postgres storage: the durable contract on one Postgres schema, for any number of processes.
 *
 * Every verb is one statement (or one statement per step of a lease-fenced sequence), so no
 * transaction handle ever leaves this class. Checkpoints, parks and releases go through a
 * group-commit writer (writer.ts); claims use `FOR UPDATE SKIP LOCKED`; `subscribe` pushes
 * LISTEN/NOTIFY wake-ups (notifier.ts). Why each statement is correct is written beside it, in
 * sql.ts.
 */
import { StorageError } from '../../errors.js'
import {
  assertIdentifier,
  type CancelRunParams,
  type CheckpointParams,
  type ClaimDueParams,
  type ClaimKind,
  type ClaimRunParams,
  type CreateRunParams,
  type CreateRunResult,
  type DeliverSignalParams,
  type DeliverSignalResult,
  type FluxStore,
  type ListRunsParams,
  type ListRunsResult,
  newRunRecord,
  type ParkParams,
  type ParkResult,
  queueLimitsOf,
  type ReleaseParams,
  type RenewLeasesParams,
  type ReplacementRun,
  type RunRecord,
  type RunSnapshot,
  type StoreEvent,
} from '../contract.js'
import { OriginStorageView } from '../origin-view.js'
import { claimCapped } from './claim.js'
import { createPool, executeSql, type PoolLike } from './driver.js'
import { migrate } from './migrations.js'
import { Notifier } from './notifier.js'
import {
  byDueOrder,
  hasNul,
  listParams,
  nulRunField,
  type RunRow,
  replaceParams,
  runParams,
  type SnapshotRow,
  toRunRecord,
  toSnapshot,
} from './rows.js'
import { buildStatements, type Statements } from './sql.js'
import { GroupCommitWriter, type WriterStats } from './writer.js'

/** Options of {@link PostgresStorage}. */
export interface PostgresStorageOptions {
  /** `postgres://…`; used to create our own pool when `pool` is not given. */
  connectionString?: string
  /**
   * Your own pool (a `pg.Pool` or anything shaped like it). Never ended by `close()`. While
   * anyone is subscribed, one of its connections is held for LISTEN, and the writer holds one
   * while it flushes: give it at least 3.
   */
  pool?: PoolLike
  /** Schema holding the tables (created if missing). Letters, digits, underscores. Default `fluxflow`. */
  schema?: string
  /** Size of the pool we create (ignored with `pool`; see there for the minimum). Default 10. */
  max?: number
  /** Where the storage reports recoverable trouble (a lost LISTEN connection). Default `console.warn`. */
  warn?: (message: string) => void
}

interface Session {
  pool: PoolLike
  ownsPool: boolean
  writer: GroupCommitWriter
  notifier: Notifier
}

/** Every kind of due run: what a claim that names none takes. */
const ALL_KINDS: readonly ClaimKind[] = ['pending', 'orphaned', 'timer', 'signal']

/** Caps of one group-commit statement. */
const BATCH_LIMITS = { maxJobs: 1_000, maxBodyChars: 16 * 1024 * 1024 }

/**
 * Durable storage on PostgreSQL (`pg` 8 as an optional peer, or your own pool).
 *
 * `init()` creates or migrates the schema; `init()`/`close()` are reference-counted, so several
 * engines can share one storage: the pool this storage created is ended when the last `close()`
 * comes, after every queued write has settled. A pool you pass in is never ended.
 *
 * @example
 * ```ts
 * const storage = new PostgresStorage({ connectionString: process.env.DATABASE_URL, schema: 'flux' })
 * const engine = new FluxEngine({ storage, workflows: [orderFlow] })
 * await engine.worker({ workflows: [orderFlow], concurrency: 20 }).start()
 * ```
 */
export class PostgresStorage extends OriginStorageView implements FluxStore {
  readonly durable = true as const
  /** The schema holding this storage's tables; also the NOTIFY channel. */
  readonly schema: string
  readonly #options: PostgresStorageOptions
  readonly #sql: Statements
  #refs = 0
  #ready: Promise<Session> | undefined
  /** The session once `#ready` has resolved, until the last `close()`. */
  #live: Session | undefined
  #closing: Promise<void> = Promise.resolve()
  #applied: readonly number[] = []

  constructor(options: PostgresStorageOptions = {}) {
    super()
    this.schema = assertIdentifier(options.schema ?? 'fluxflow', 'schema name')
    if (options.max !== undefined && !(Number.isInteger(options.max) && options.max > 0))
      throw new TypeError(`PostgresStorage: max must be a positive integer, got ${options.max}`)
    this.#options = options
    this.#sql = buildStatements(this.schema)
  }

  /** Connects (creating the pool if needed) and migrates the schema. Each call needs one `close()`. */
  async init(): Promise<void> {
    this.#refs++
    if (!this.#ready) {
      const opening = this.#open()
      this.#ready = opening
      void opening.catch(() => {
        if (this.#ready === opening) this.#ready = undefined
      })
    }
    const ready = this.#ready
    try {
      const session = await ready
      // Unless a close() came meanwhile, the session is live.
      if (this.#ready === ready) this.#live = session
    } catch (error) {
      this.#refs--
      throw error
    }
  }

  /** Releases one `init()`. The last one waits for queued writes, ends the listener and our pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#refs === 0) return this.#closing
    this.#refs--
    if (this.#refs > 0) return
    const ready = this.#ready
    this.#ready = undefined
    this.#live = undefined
    if (ready) this.#closing = ready.then(shutdown, () => undefined)
    return this.#closing
  }

  /** Migration versions the last `init()` applied (empty when the schema was already current). */
  get appliedMigrations(): readonly number[] {
    return this.#applied
  }

  /** Counters of the group-commit writer of the open session (statements sent, writes carried). */
  get writerStats(): WriterStats {
    return this.#live?.writer.stats ?? { statements: 0, jobs: 0, lean: 0, createStatements: 0, creates: 0 }
  }

  async #open(): Promise<Session> {
    // Reopening after a close: let the previous session finish shutting down first.
    await this.#closing.catch(() => undefined)
    const ownsPool = this.#options.pool === undefined
    const pool =
      this.#options.pool ??
      (await createPool({
        ...(this.#options.connectionString !== undefined
          ? { connectionString: this.#options.connectionString }
          : {}),
        max: this.#options.max ?? 10,
      }))
    try {
      this.#applied = await migrate(pool, this.schema, this.#sql)
    } catch (error) {
      if (ownsPool) await pool.end().catch(() => undefined)
      throw error
    }
    const warn = this.#options.warn ?? ((message: string) => console.warn(message))
    const session: Session = {
      pool,
      ownsPool,
      writer: new GroupCommitWriter(pool, this.#sql, this.schema, BATCH_LIMITS),
      notifier: new Notifier(pool, this.schema, this.#sql.listen, warn),
    }
    return session
  }

  async #session(): Promise<Session> {
    if (!this.#ready) {
      throw new StorageError('PostgresStorage is not initialised: call init() first (or it was closed)')
    }
    return this.#ready
  }

  /** A statement on the pool; `prepared` for the hot verbs (see `executeSql`). */
  async #query(text: string, values: unknown[], what: string, prepared = true) {
    return executeSql(this.#live?.pool ?? (await this.#session()).pool, text, values, what, prepared)
  }

  async createRun({ run, lease, sync }: CreateRunParams): Promise<CreateRunResult> {
    const row = runParams(run, {
      leaseOwner: lease?.owner ?? null,
      leaseToken: lease?.token ?? null,
      leaseExpiresAt: lease?.expiresAt ?? null,
    })
    const field = nulRunField(row)
    if (field)
      throw new StorageError(`PostgresStorage cannot store ${field} of a run: it contains a NUL character`)
    const writer = this.#live?.writer ?? (await this.#session()).writer
    // A conflicting row can vanish (deleteRun) between our INSERT and our read: then insert again.
    for (let attempt = 0; attempt < 3; attempt++) {
      // The row is exactly what we sent: build the record here rather than shipping it back.
      if (await writer.create(row, sync !== false)) return { created: true, run: newRunRecord(run, lease) }
      const existing = await this.getRun(run.id)
      if (existing) return { created: false, run: existing }
    }
    throw new StorageError(`PostgresStorage createRun of ${run.id} kept racing a concurrent delete`)
  }

  async loadRun(id: string): Promise<RunSnapshot | null> {
    if (hasNul(id)) return null
    const { rows } = await this.#query(this.#sql.loadRun, [id], 'loadRun')
    const row = rows[0] as SnapshotRow | undefined
    return row ? toSnapshot(row) : null
  }

  async getRun(id: string): Promise<RunRecord | null> {
    if (hasNul(id)) return null
    const { rows } = await this.#query(this.#sql.getRun, [id], 'getRun')
    const row = rows[0] as RunRow | undefined
    return row ? toRunRecord(row) : null
  }

  async listRuns(params: ListRunsParams): Promise<ListRunsResult> {
    if (hasNul(params.idPrefix ?? '') || hasNul(params.workflowName ?? '')) return { runs: [], total: 0 }
    // Not prepared: its optional filters want a plan made for the values at hand.
    const { rows } = await this.#query(this.#sql.listRuns, listParams(params), 'listRuns', false)
    const total = Number((rows[0] as { total: string } | undefined)?.total ?? 0)
    const runs = (rows as (RunRow & { total: string })[])
      .filter((r) => r.id !== null)
      .map((r) => toRunRecord(r))
    return { runs, total }
  }

  async claimRun({ id, lease, now, statuses }: ClaimRunParams): Promise<RunSnapshot | null> {
    if (hasNul(id)) return null
    const { rows } = await this.#query(
      this.#sql.claimRun,
      [id, lease.owner, lease.token, lease.expiresAt, now, statuses ? [...statuses] : null],
      'claimRun',
    )
    if (rows.length === 0) return null
    const [snapshot] = await this.#snapshots([id])
    return snapshot ?? null
  }

  async claimDue(params: ClaimDueParams): Promise<RunSnapshot[]> {
    const { lease, now, definitionKeys, queues, limit, kinds } = params
    if (limit <= 0 || definitionKeys.length === 0 || kinds?.length === 0) return []
    const values = [
      [...definitionKeys],
      queues ? [...queues] : null,
      now,
      lease.owner,
      lease.token,
      Number.isFinite(limit) ? Math.floor(limit) : null,
      lease.expiresAt,
      kinds ? [...kinds] : ALL_KINDS,
    ]
    const caps = queueLimitsOf(params)
    // A queue name holding U+0000 cannot be stored, so it has no runs to cap.
    for (const queue of caps?.keys() ?? []) if (hasNul(queue)) caps!.delete(queue)
    let ids: string[]
    if (caps && caps.size > 0) {
      const session = this.#live ?? (await this.#session())
      const named = queues?.filter((queue) => !hasNul(queue))
      ids = await claimCapped(session.pool, this.#sql, this.schema, values, caps, named)
    } else {
      const { rows } = await this.#query(this.#sql.claimDue, values, 'claimDue')
      ids = rows.map((r: { id: string }) => r.id)
    }
    if (ids.length === 0) return []
    const snapshots = await this.#snapshots(ids)
    return snapshots.sort((a, b) => byDueOrder(a.run, b.run))
  }

  /** Snapshots of runs this caller has just claimed, read in a statement after the claim (see sql.ts). */
  async #snapshots(ids: string[]): Promise<RunSnapshot[]> {
    const { rows } = await this.#query(this.#sql.loadRuns, [ids], 'loadRuns')
    return (rows as SnapshotRow[]).map(toSnapshot)
  }

  // Checkpoints, parks and releases are queued synchronously when the storage is open (no
  // `await` before the enqueue), so the queue order is exactly the call order.

  async checkpoint(params: CheckpointParams): Promise<void> {
    const writer = this.#live?.writer ?? (await this.#session()).writer
    return writer.enqueue<void>((settle) => ({ kind: 'checkpoint', params, settle }))
  }

  async park(params: ParkParams): Promise<ParkResult> {
    const writer = this.#live?.writer ?? (await this.#session()).writer
    return writer.enqueue<ParkResult>((settle) => ({ kind: 'park', params, settle }))
  }

  async release(params: ReleaseParams): Promise<void> {
    const writer = this.#live?.writer ?? (await this.#session()).writer
    return writer.enqueue<void>((settle) => ({ kind: 'release', params, settle }))
  }

  async renewLeases({ token, ids, expiresAt }: RenewLeasesParams): Promise<string[]> {
    ids = ids.filter((id) => !hasNul(id))
    if (ids.length === 0 || hasNul(token)) return []
    const { rows } = await this.#query(this.#sql.renewLeases, [[...ids], token, expiresAt], 'renewLeases')
    const held = new Set(rows.map((r: { id: string }) => r.id))
    return ids.filter((id) => held.has(id))
  }

  async deliverSignal({ id, name, payload, now }: DeliverSignalParams): Promise<DeliverSignalResult> {
    if (hasNul(id)) return { outcome: 'not-found' }
    const { rows } = await this.#query(
      this.#sql.deliverSignal,
      [id, name, payload, now, this.schema],
      'deliverSignal',
    )
    const row = rows[0] as (RunRow & { verdict: string; stored: boolean }) | undefined
    if (!row) return { outcome: 'not-found' }
    const run = toRunRecord(row)
    if (row.verdict === 'ended' || row.verdict === 'mismatch') return { outcome: row.verdict, run }
    if (!row.stored) return { outcome: 'duplicate', run }
    // The row was read under our lock before the bump in the same statement: apply the bump.
    run.updatedAt = now
    run.revision += 1
    return { outcome: row.verdict === 'delivered' ? 'delivered' : 'queued', run }
  }

  async cancelRun({ id, now, error }: CancelRunParams): Promise<RunRecord | null> {
    if (hasNul(id)) return null
    const { rows } = await this.#query(this.#sql.cancelRun, [id, now, error], 'cancelRun')
    const row = rows[0] as RunRow | undefined
    // Not updated: absent or already ended. Read it in a new statement, which sees the commit
    // that ended it even if that commit came after this statement's snapshot.
    return row ? toRunRecord(row) : this.getRun(id)
  }

  async deleteRun(id: string): Promise<boolean> {
    if (hasNul(id)) return false
    const { rowCount } = await this.#query(this.#sql.deleteRun, [id], 'deleteRun')
    return (rowCount ?? 0) > 0
  }

  async replaceRun({ run, checkpoints }: ReplacementRun): Promise<void> {
    await this.#query(this.#sql.replaceRun, replaceParams(run, checkpoints), 'replaceRun')
  }

  /**
   * Pushes a wake-up whenever a run becomes due elsewhere (created pending, signal delivered,
   * lease released, timer parked). Notifications can be lost (while the connection is down, or
   * between processes); keep polling as the fallback. Resolves once listening; returns the
   * unsubscribe (the last one ends the LISTEN connection).
   */
  async subscribe(listener: (event: StoreEvent) => void): Promise<() => Promise<void>> {
    const { notifier } = await this.#session()
    return notifier.subscribe(listener)
  }
}

async function shutdown(session: Session): Promise<void> {
  await session.writer.close()
  await session.notifier.stop()
  if (session.ownsPool) await session.pool.end()
}
