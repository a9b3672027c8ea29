/**
 * Group commit: many small writes, one transaction, one fsync.
 *
 * With `synchronous = FULL` every COMMIT waits for the disk, and that wait, not the SQL, is what
 * bounds a store that commits each checkpoint alone. The engine issues the checkpoints of many
 * runs close together (every run that finished a step in the same turn of the event loop), so
 * writes queued during one macrotask are applied in call order inside one `BEGIN IMMEDIATE`
 * transaction, flushed from `setImmediate`, and every caller's promise settles only after that
 * COMMIT returned: durability is the same as one transaction per write, the disk wait is shared.
 *
 * Each write runs inside a SAVEPOINT, so one that fails (a fenced write whose lease is gone, or
 * an unexpected SQL error) is undone and rejects alone while the others commit. If the
 * transaction itself fails (BEGIN after the busy timeout, COMMIT, an I/O error that aborted it),
 * nothing was written and every promise of the batch rejects with a `StorageError` carrying the
 * cause.
 */
import { FluxError, StorageError } from '../../errors.js'
import type { SqliteConnection } from './driver.js'
import { TX } from './sql.js'

/** A write to apply inside the batch transaction. It throws to fail alone. */
export type BatchedWrite<T> = (conn: SqliteConnection) => T

interface Pending {
  write: BatchedWrite<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/** Counters for tests and diagnostics. */
export interface GroupCommitStats {
  /** Transactions committed. */
  commits: number
  /** Writes that went through a committed transaction (including those that failed alone). */
  writes: number
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
  readonly #stats: GroupCommitStats = { commits: 0, writes: 0, failedBatches: 0, largestBatch: 0 }

  /** `connection` returns null while the store is still opening; it flushes once open. */
  constructor(connection: () => SqliteConnection | null) {
    this.#connection = connection
  }

  /** Writes waiting for the next flush. */
  get pending(): number {
    return this.#queue.length
  }

  /** A copy of the counters. */
  get stats(): GroupCommitStats {
    return { ...this.#stats }
  }

  /** Queues a write; resolves with its result after the COMMIT that made it durable. */
  enqueue<T>(write: BatchedWrite<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write, resolve: resolve as (value: unknown) => void, reject })
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
    while (this.#queue.length > 0) {
      const batch = this.#queue
      this.#queue = []
      this.#commit(conn, batch)
    }
  }

  /** Rejects everything queued (the store failed to open, or closed without a connection). */
  failAll(error: unknown): void {
    const batch = this.#queue
    this.#queue = []
    for (const item of batch) item.reject(error)
  }

  #commit(conn: SqliteConnection, batch: Pending[]): void {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = []
    try {
      conn.exec(TX.beginImmediate)
    } catch (error) {
      this.#failBatch(batch, error, 'could not start the write transaction')
      return
    }
    try {
      for (const item of batch) {
        conn.exec(TX.savepoint)
        try {
          outcomes.push({ ok: true, value: item.write(conn) })
          conn.exec(TX.releaseSavepoint)
        } catch (error) {
          // If this throws too, the transaction is gone: the outer catch fails the batch.
          conn.exec(TX.rollbackToSavepoint)
          conn.exec(TX.releaseSavepoint)
          outcomes.push({ ok: false, error })
        }
      }
      conn.exec(TX.commit)
    } catch (error) {
      rollbackQuietly(conn)
      this.#failBatch(batch, error, 'the write transaction failed')
      return
    }
    this.#stats.commits++
    this.#stats.writes += batch.length
    this.#stats.largestBatch = Math.max(this.#stats.largestBatch, batch.length)
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) item.resolve(outcome.value)
      else item.reject(asStorageFailure(outcome.error))
    })
  }

  #failBatch(batch: Pending[], cause: unknown, what: string): void {
    this.#stats.failedBatches++
    const message = cause instanceof Error ? cause.message : String(cause)
    const error = new StorageError(`SQLite ${what} (${batch.length} writes, none applied): ${message}`, {
      cause,
    })
    for (const item of batch) item.reject(error)
  }
}

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
