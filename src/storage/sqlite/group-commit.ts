/**
 * Group commit: many small writes, one transaction, one fsync.
 *
 * With `synchronous = FULL` every COMMIT waits for the disk, and that wait, not the SQL, is what
 * bounds a store that commits each checkpoint alone. The engine issues the checkpoints of many
 * runs close together (every run that finished a step in the same turn of the event loop), so
 * writes queued during one macrotask are applied in call order inside one `BEGIN IMMEDIATE`
 * transaction, flushed from `setImmediate`, and every caller's promise settles only after that
 * COMMIT returned: durability is the same as one transaction per write, the disk wait is shared.
 * A batch made only of `sync: false` writes (the contract's "visible and safe from a crash of
 * the process, fsync later") commits with `synchronous = NORMAL`: in WAL mode that writes the
 * frames without the fsync, which the next synced commit then covers. One synced write in the
 * batch makes the whole commit synced. Promises settle in call order.
 *
 * A write fails alone. A fenced write whose lease is gone throws `LeaseLostError` before it has
 * written anything, so the others simply go on. Any other error may have left half a write
 * behind: the transaction is rolled back and the batch replayed without that write (writes are
 * pure functions of the database and their parameters, and nothing of the first attempt was
 * committed). A SAVEPOINT per write would do the same, but costs ~30 µs each, more than the
 * write. If the transaction itself fails (BEGIN after the busy timeout, COMMIT, an I/O error),
 * nothing was written and every promise of the batch rejects with a `StorageError` carrying the
 * cause.
 */
import { FluxError, LeaseLostError, StorageError } from '../../errors.js'
import type { SqliteConnection } from './driver.js'
import { PRAGMA, TX } from './sql.js'

/**
 * Most writes per transaction. Past a few hundred the fsync is already shared by so many writes
 * that it no longer matters; the cap keeps a burst (100,000 createRun) from holding the write
 * lock for seconds, which other processes would wait on up to their busy timeout.
 */
const MAX_BATCH = 1000

/** How often a batch is replayed after a write failed unexpectedly before the whole batch fails. */
const MAX_REPLAYS = 3

/** A write to apply inside the batch transaction. It throws to fail alone. */
export type BatchedWrite<T> = (conn: SqliteConnection) => T

interface Pending {
  write: BatchedWrite<unknown>
  /** False: the caller accepts a commit without fsync (`sync: false` in the contract). */
  sync: boolean
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/** Counters for tests and diagnostics. */
export interface GroupCommitStats {
  /** Transactions committed. */
  commits: number
  /** Writes that went through a committed transaction (including those that failed alone). */
  writes: number
  /** Of those, committed without fsync because every write in them was `sync: false`. */
  relaxedCommits: number
  /** Transactions that failed as a whole. */
  failedBatches: number
  /** Most writes one transaction carried. */
  largestBatch: number
}

/** The queue of pending writes of one connection. */
export class GroupCommit {
  #queue: Pending[] = []
  #scheduled = false
  readonly #connection: () => SqliteConnection | null
  readonly #restoreSync: string | null
  /** Runs after each committed transaction, outside it (the WAL checkpoint policy). */
  readonly #afterCommit: (conn: SqliteConnection) => void
  readonly #stats: GroupCommitStats = {
    commits: 0,
    writes: 0,
    relaxedCommits: 0,
    failedBatches: 0,
    largestBatch: 0,
  }

  /**
   * `connection` returns null while the store is still opening; it flushes once open.
   * `restoreSync` is the PRAGMA that sets the store's own `synchronous` level back after a
   * batch of `sync: false` writes, or null when that level already does not fsync each commit.
   */
  constructor(
    connection: () => SqliteConnection | null,
    restoreSync: string | null,
    afterCommit: (conn: SqliteConnection) => void = () => undefined,
  ) {
    this.#connection = connection
    this.#restoreSync = restoreSync
    this.#afterCommit = afterCommit
  }

  /** Writes waiting for the next flush. */
  get pending(): number {
    return this.#queue.length
  }

  /** A copy of the counters. */
  get stats(): GroupCommitStats {
    return { ...this.#stats }
  }

  /**
   * Queues a write; resolves with its result after the COMMIT that made it durable (with
   * `sync: false`, after the COMMIT that made it visible and crash-of-the-process safe).
   */
  enqueue<T>(write: BatchedWrite<T>, sync = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write, sync, resolve: resolve as (value: unknown) => void, reject })
      this.schedule()
    })
  }

  /** Arranges a flush after the current macrotask (no-op if one is already arranged). */
  schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      const conn = this.#connection()
      if (conn) this.flush(conn)
    })
  }

  /**
   * Commits everything queued now, synchronously. Verbs that do not batch call this first, so
   * every verb sees the writes issued before it, as with an unbatched store.
   */
  flush(conn: SqliteConnection): void {
    while (this.#queue.length > 0) this.#commit(conn, this.#queue.splice(0, MAX_BATCH))
  }

  /** Rejects everything queued (the store failed to open, or closed without a connection). */
  failAll(error: unknown): void {
    const batch = this.#queue
    this.#queue = []
    for (const item of batch) item.reject(error)
  }

  #commit(conn: SqliteConnection, batch: Pending[]): void {
    // Every write's outcome, settled at the end in call order (the contract orders a run's
    // promises as its calls, whatever happened to the writes in between).
    const outcomes = new Map<Pending, Outcome>()
    let live = batch
    for (let attempt = 1; ; attempt++) {
      const round = this.#attempt(conn, live)
      if (round.kind === 'committed') {
        this.#stats.commits++
        if (round.relaxed) this.#stats.relaxedCommits++
        this.#stats.writes += live.length
        this.#stats.largestBatch = Math.max(this.#stats.largestBatch, live.length)
        for (const [i, item] of live.entries()) outcomes.set(item, round.outcomes[i]!)
        this.#afterCommit(conn)
        break
      }
      if (round.kind === 'failed') {
        this.#failBatch(live, round.error, round.what, outcomes)
        break
      }
      const broken = live[round.index]!
      outcomes.set(broken, { ok: false, error: asStorageFailure(round.error) })
      live = live.filter((item) => item !== broken)
      // A failure that keeps coming back is the database's, not one write's.
      if (attempt >= MAX_REPLAYS) {
        this.#failBatch(live, round.error, 'the write transaction failed repeatedly', outcomes)
        break
      }
    }
    for (const item of batch) {
      const outcome = outcomes.get(item)!
      if (outcome.ok) item.resolve(outcome.value)
      else item.reject(outcome.error)
    }
  }

  /**
   * One try at a batch: applies every write and commits, or reports the write that broke the
   * transaction (rolled back) or the failure of the transaction itself (rolled back).
   */
  #attempt(conn: SqliteConnection, live: Pending[]): Attempt {
    const relaxed = this.#restoreSync !== null && live.every((item) => !item.sync)
    if (relaxed) conn.run(PRAGMA.relaxed)
    try {
      return this.#transaction(conn, live, relaxed)
    } finally {
      // Outside any transaction again: every later commit (claims, signals…) fsyncs.
      if (relaxed) conn.run(this.#restoreSync!)
    }
  }

  #transaction(conn: SqliteConnection, live: Pending[], relaxed: boolean): Attempt {
    try {
      conn.run(TX.beginImmediate)
    } catch (error) {
      return { kind: 'failed', error, what: 'could not start the write transaction' }
    }
    const outcomes: Outcome[] = []
    try {
      for (const [index, item] of live.entries()) {
        try {
          outcomes.push({ ok: true, value: item.write(conn) })
        } catch (error) {
          // A lost lease is found before the write changes anything: the others go on.
          if (!(error instanceof LeaseLostError)) {
            rollbackQuietly(conn)
            return { kind: 'replay', index, error }
          }
          outcomes.push({ ok: false, error })
        }
      }
      conn.run(TX.commit)
    } catch (error) {
      rollbackQuietly(conn)
      return { kind: 'failed', error, what: 'the write transaction failed' }
    }
    return { kind: 'committed', outcomes, relaxed }
  }

  #failBatch(batch: Pending[], cause: unknown, what: string, outcomes: Map<Pending, Outcome>): void {
    if (batch.length === 0) return
    this.#stats.failedBatches++
    const message = cause instanceof Error ? cause.message : String(cause)
    const error = new StorageError(`SQLite ${what} (${batch.length} writes, none applied): ${message}`, {
      cause,
    })
    for (const item of batch) outcomes.set(item, { ok: false, error })
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

type Attempt =
  | { kind: 'committed'; outcomes: Outcome[]; relaxed: boolean }
  | { kind: 'replay'; index: number; error: unknown }
  | { kind: 'failed'; error: unknown; what: string }

/** Errors of fluxflow's own family (LeaseLostError…) pass as they are; anything else is wrapped. */
export function asStorageFailure(error: unknown): unknown {
  if (error instanceof FluxError || error instanceof TypeError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new StorageError(`SQLite write failed: ${message}`, { cause: error })
}

/** Ends a transaction that may already be gone (SQLite rolls back by itself on some errors). */
export function rollbackQuietly(conn: SqliteConnection): void {
  try {
    conn.exec(TX.rollback)
  } catch {
    // No transaction was open any more; nothing to undo.
  }
}
