/**
 * The embedded durable store: one SQLite file, WAL, `synchronous = FULL` by default, with the
 * same semantics as MemoryStorage for every verb (the conformance suite is the judge).
 *
 * Writes of the engine's hot path (`createRun`, `checkpoint`, `park`, `renewLeases`, `release`)
 * go through group commit (group-commit.ts): those issued in one macrotask share one
 * transaction and one fsync, and each promise resolves only after that COMMIT. Every other verb
 * first commits what is queued and then runs at once in its own transaction, so each verb sees
 * every write issued before it — the same ordering an unbatched store gives.
 *
 * Several processes may share one file: claims and every read-then-write run inside
 * `BEGIN IMMEDIATE`. One machine only; scale-out is PostgresStorage's job.
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { StorageError } from '../../errors.js'
import type {
  CancelRunParams,
  CheckpointParams,
  ClaimDueParams,
  ClaimRunParams,
  CreateRunParams,
  CreateRunResult,
  DeliverSignalParams,
  DeliverSignalResult,
  FluxStore,
  ListRunsParams,
  ListRunsResult,
  ParkParams,
  ParkResult,
  ReleaseParams,
  RenewLeasesParams,
  ReplacementRun,
  RunRecord,
  RunSnapshot,
} from '../contract.js'
import { OriginStorageView } from '../origin-view.js'
import { claimDue } from './claim.js'
import { openDatabase, SqliteConnection, type SqliteDatabaseLike } from './driver.js'
import { asStorageFailure, type BatchedWrite, GroupCommit, type GroupCommitStats } from './group-commit.js'
import { migrate } from './migrations.js'
import { buildSql, PRAGMA, resolveTables, type StoreSql, type TableNames } from './sql.js'
import * as verbs from './verbs.js'
import { WalCheckpoints } from './wal-checkpoints.js'
import { checkpointWrite, createRunWrite, parkWrite, releaseWrite, renewLeasesWrite } from './writes.js'

/** SQLite's `synchronous` levels. */
export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'

/** Options of {@link SqliteStorage}. */
export interface SqliteStorageOptions {
  /** Database file; missing parent folders are created. `':memory:'` for a private in-memory one. Default `./data/flux.db`. */
  path?: string
  /** Put before each table name (`flux_runs`, `flux_checkpoints`…). Default `flux_`. */
  tablePrefix?: string
  /**
   * The origin's option: the name of the runs table. The other tables take it as their prefix
   * (`tableName: 'jobs'` → `jobs`, `jobs_checkpoints`, `jobs_signals`, `jobs_migrations`).
   * Give this or `tablePrefix`, not both.
   */
  tableName?: string
  /**
   * `FULL` (default): a resolved write survives a power cut. `NORMAL` in WAL mode survives a
   * crash of the process but may lose the last commits on power loss; `OFF` trades that away too.
   */
  synchronous?: SqliteSynchronous
  /** How long (ms) a write waits for another process's lock before failing. Default 5000. */
  busyTimeout?: number
  /**
   * WAL pages after which a COMMIT copies the log back into the database file (SQLite's
   * `wal_autocheckpoint`; that copy and its fsync run inside the COMMIT, on the event loop).
   * Default 8000 (a WAL of ~32 MB): a workflow run writes ~19 pages, so SQLite's own default of
   * 1000 would stall a run every ~50. The store also checkpoints after every ~4 MB of run data
   * (inputs, step outputs), so large payloads are copied in pieces no bigger than SQLite's
   * default makes them (see wal-checkpoints.ts). `0` leaves all checkpoints to the application.
   */
  walAutocheckpoint?: number
  /**
   * A handle the application opened (better-sqlite3 or bun:sqlite). `path` is then ignored, the
   * PRAGMAs and migrations are still applied, and the handle is left open by `close()`.
   */
  database?: SqliteDatabaseLike
}

/**
 * A checkpoint every ~420 runs of ~19 pages, about as often as a one-row-per-step table gets
 * one at SQLite's default of 1000 (3 pages a run: every ~330). `npm run bench -- sqlite` times
 * both, interleaved: +7–10% runs/s, p99 3.0–4.2 → 1.1–1.5 ms (docs/ARCHITECTURE.md).
 */
const DEFAULT_WAL_AUTOCHECKPOINT = 8000

const SYNCHRONOUS: ReadonlySet<string> = new Set(['OFF', 'NORMAL', 'FULL', 'EXTRA'])

/**
 * Durable storage on SQLite: better-sqlite3 on Node, bun:sqlite on Bun, chosen at `init()`.
 *
 * @example
 * ```ts
 * import { FluxEngine } from 'fluxflow'
 * import { SqliteStorage } from 'fluxflow/sqlite'
 *
 * const engine = new FluxEngine({ storage: new SqliteStorage({ path: './data/flux.db' }), workflows: [order] })
 * await engine.execute(order, { id: 42 })
 * ```
 */
export class SqliteStorage extends OriginStorageView implements FluxStore {
  readonly durable = true as const
  /** The database file (as given; `':memory:'` for a private in-memory database). */
  readonly path: string
  /** The table names in use. */
  readonly tables: Readonly<TableNames>
  readonly #sql: StoreSql
  readonly #synchronous: SqliteSynchronous
  readonly #busyTimeout: number
  readonly #walAutocheckpoint: number
  readonly #userHandle: SqliteDatabaseLike | undefined
  readonly #batch: GroupCommit
  readonly #checkpoints: WalCheckpoints
  #conn: SqliteConnection | null = null
  /** The open in progress or done; null when closed. */
  #ready: Promise<SqliteConnection> | null = null
  #closing: Promise<void> | null = null
  #refs = 0
  #state: 'new' | 'open' | 'closed' = 'new'

  constructor(options: SqliteStorageOptions = {}) {
    super()
    this.path = options.path ?? './data/flux.db'
    this.tables = Object.freeze(resolveTables(options))
    this.#sql = buildSql(this.tables)
    const synchronous = options.synchronous ?? 'FULL'
    if (!SYNCHRONOUS.has(synchronous)) {
      throw new TypeError(
        `SqliteStorage: synchronous must be OFF, NORMAL, FULL or EXTRA, not "${synchronous}"`,
      )
    }
    this.#synchronous = synchronous
    const busyTimeout = options.busyTimeout ?? 5000
    if (!Number.isInteger(busyTimeout) || busyTimeout < 0) {
      throw new TypeError(`SqliteStorage: busyTimeout must be a whole number of ms ≥ 0, not ${busyTimeout}`)
    }
    this.#busyTimeout = busyTimeout
    const walAutocheckpoint = options.walAutocheckpoint ?? DEFAULT_WAL_AUTOCHECKPOINT
    if (!Number.isSafeInteger(walAutocheckpoint) || walAutocheckpoint < 0) {
      throw new TypeError(
        `SqliteStorage: walAutocheckpoint must be a whole number of pages ≥ 0, not ${walAutocheckpoint}`,
      )
    }
    this.#walAutocheckpoint = walAutocheckpoint
    this.#userHandle = options.database
    const fsyncsEachCommit = synchronous === 'FULL' || synchronous === 'EXTRA'
    this.#checkpoints = new WalCheckpoints(walAutocheckpoint)
    this.#batch = new GroupCommit(
      () => this.#conn,
      fsyncsEachCommit ? PRAGMA.synchronous[synchronous] : null,
      (conn) => this.#checkpoints.afterCommit(conn),
    )
  }

  /**
   * Opens the database, applies the PRAGMAs and migrates the schema. Reference-counted: each
   * `init()` needs one `close()`, and the database closes when the count reaches zero.
   */
  async init(): Promise<void> {
    this.#refs++
    try {
      if (this.#closing !== null) await this.#closing
      await this.#open()
    } catch (error) {
      this.#refs--
      throw error
    }
  }

  /**
   * Releases one `init()`. At zero it commits the writes still queued, then closes the
   * database (a handle passed as `database` is left open). Calls beyond the count do nothing,
   * so `close()` is idempotent. A later `init()` opens the file again (a `':memory:'` database
   * starts empty then).
   */
  async close(): Promise<void> {
    if (this.#refs === 0) return this.#closing ?? undefined
    this.#refs--
    if (this.#refs > 0) return
    this.#closing = this.#shutdown()
    try {
      await this.#closing
    } finally {
      this.#closing = null
    }
  }

  /** The driver's database handle, for custom queries. Throws before `init()`. */
  getDatabase(): SqliteDatabaseLike {
    if (!this.#conn) throw new StorageError('SqliteStorage is not open: await storage.init() first')
    return this.#conn.handle
  }

  /** Reclaims free pages (the origin's `vacuum()`); commits queued writes first. */
  vacuum(): void {
    const conn = this.#conn
    if (!conn) throw new StorageError('SqliteStorage is not open: await storage.init() first')
    this.#batch.flush(conn)
    conn.exec('VACUUM')
  }

  /** WAL checkpoints the store ran after large data (SQLite's own page-count ones not included). */
  get dataCheckpoints(): number {
    return this.#checkpoints.taken
  }

  /** Counters of group commit (transactions, writes, largest batch), for tests and diagnostics. */
  get groupCommitStats(): GroupCommitStats {
    return this.#batch.stats
  }

  // Group-committed writes.

  createRun(params: CreateRunParams): Promise<CreateRunResult> {
    this.#checkpoints.add(params.run.input.length)
    return this.#write(createRunWrite(this.#sql, params), params.sync !== false)
  }

  /** See {@link CheckpointParams.sync}: `false` shares a commit without fsync when it can. */
  checkpoint(params: CheckpointParams): Promise<void> {
    this.#checkpoints.add(params.body?.length ?? 0)
    return this.#write(checkpointWrite(this.#sql, params), params.sync !== false)
  }

  park(params: ParkParams): Promise<ParkResult> {
    this.#checkpoints.add(params.body?.length ?? 0)
    return this.#write(parkWrite(this.#sql, params), params.sync !== false)
  }

  renewLeases(params: RenewLeasesParams): Promise<string[]> {
    return this.#write(renewLeasesWrite(this.#sql, params))
  }

  release(params: ReleaseParams): Promise<void> {
    return this.#write(releaseWrite(this.#sql, params))
  }

  // Verbs with their own transaction.

  loadRun(id: string): Promise<RunSnapshot | null> {
    return this.#now((conn) => verbs.loadRun(conn, this.#sql, id))
  }

  getRun(id: string): Promise<RunRecord | null> {
    return this.#now((conn) => verbs.readRun(conn, this.#sql, id))
  }

  listRuns(params: ListRunsParams): Promise<ListRunsResult> {
    return this.#now((conn) => verbs.listRuns(conn, this.#sql, params))
  }

  claimRun(params: ClaimRunParams): Promise<RunSnapshot | null> {
    return this.#now((conn) => verbs.claimRun(conn, this.#sql, params))
  }

  claimDue(params: ClaimDueParams): Promise<RunSnapshot[]> {
    return this.#now((conn) => claimDue(conn, this.#sql, params))
  }

  deliverSignal(params: DeliverSignalParams): Promise<DeliverSignalResult> {
    return this.#now((conn) => verbs.deliverSignal(conn, this.#sql, params))
  }

  cancelRun(params: CancelRunParams): Promise<RunRecord | null> {
    return this.#now((conn) => verbs.cancelRun(conn, this.#sql, params))
  }

  deleteRun(id: string): Promise<boolean> {
    return this.#now((conn) => verbs.deleteRun(conn, this.#sql, id))
  }

  replaceRun(params: ReplacementRun): Promise<void> {
    return this.#now((conn) => verbs.replaceRun(conn, this.#sql, params))
  }

  // Lifecycle.

  /**
   * Queues a write for the next group commit. A store never initialised opens itself on first
   * use, as the origin's storage did (that open counts as one `init()`).
   */
  #write<T>(write: BatchedWrite<T>, sync = true): Promise<T> {
    const unusable = this.#unusable()
    if (unusable) return Promise.reject(unusable)
    if (this.#state === 'new') this.#implicitOpen()
    return this.#batch.enqueue(write, sync)
  }

  /**
   * Runs a verb now. When the store is open this happens synchronously within the call, after
   * committing the queued writes, which is what keeps verbs in call order.
   */
  async #now<T>(verb: (conn: SqliteConnection) => T): Promise<T> {
    const unusable = this.#unusable()
    if (unusable) throw unusable
    let conn = this.#conn
    if (!conn) {
      if (this.#state === 'new') this.#implicitOpen()
      conn = await this.#ready!
    }
    this.#batch.flush(conn)
    try {
      return verb(conn)
    } catch (error) {
      throw asStorageFailure(error)
    }
  }

  #unusable(): StorageError | null {
    if (this.#state === 'closed' || (this.#closing !== null && this.#refs === 0)) {
      return new StorageError('SqliteStorage is closed')
    }
    return null
  }

  #implicitOpen(): void {
    // The error reaches the verb that triggered it through #ready or the batch.
    this.init().catch(() => undefined)
  }

  #open(): Promise<SqliteConnection> {
    if (this.#ready) return this.#ready
    this.#state = 'open'
    const ready = this.#connect().then(
      (conn) => {
        this.#conn = conn
        this.#batch.schedule()
        return conn
      },
      (error: unknown) => {
        if (this.#ready === ready) this.#ready = null
        this.#state = 'new'
        this.#batch.failAll(error)
        throw error
      },
    )
    this.#ready = ready
    return ready
  }

  async #connect(): Promise<SqliteConnection> {
    let handle = this.#userHandle
    if (!handle) {
      if (this.path !== ':memory:' && this.path !== '' && !this.path.startsWith('file:')) {
        mkdirSync(dirname(resolve(this.path)), { recursive: true })
      }
      handle = await openDatabase(this.path)
    }
    let conn: SqliteConnection | undefined
    try {
      // The busy timeout goes on the bare handle before anything else: preparing any statement
      // (the connection's own parameter probe included) reads the schema, which waits on another
      // process's lock or WAL recovery only once a timeout is set — bun:sqlite starts with none.
      handle.exec(PRAGMA.busyTimeout(this.#busyTimeout))
      conn = new SqliteConnection(handle)
      conn.exec(PRAGMA.walMode)
      conn.exec(PRAGMA.walAutocheckpoint(this.#walAutocheckpoint))
      conn.exec(PRAGMA.synchronous[this.#synchronous])
      migrate(conn, this.tables)
    } catch (error) {
      if (conn) conn.close(!this.#userHandle)
      else if (!this.#userHandle) handle.close()
      throw asStorageFailure(error)
    }
    return conn
  }

  async #shutdown(): Promise<void> {
    const ready = this.#ready
    if (ready) await ready.catch(() => undefined)
    const conn = this.#conn
    this.#conn = null
    this.#ready = null
    this.#state = 'closed'
    if (!conn) {
      this.#batch.failAll(new StorageError('SqliteStorage is closed'))
      return
    }
    try {
      this.#batch.flush(conn)
    } finally {
      conn.close(!this.#userHandle)
    }
  }
}
