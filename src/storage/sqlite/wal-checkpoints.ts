/**
 * When the WAL is copied back into the database file (a checkpoint), which runs inside a COMMIT
 * on the event loop and stalls whatever runs in that turn.
 *
 * A checkpoint's cost is the distinct pages it copies plus an fsync of the database file. Small
 * writes land on the same few pages over and over (the runs table's newest leaf, the right edge
 * of each index), so a long log of them checkpoints cheaply, and rarely is better: hence
 * `wal_autocheckpoint = 8000` pages by default instead of SQLite's 1000. Large values (a 100 KB
 * step output) are all distinct pages: a checkpoint of 8000 of them copies 32 MB at once (a
 * ~100 ms stall, measured). So the store also counts the run data it writes (inputs and
 * checkpoint bodies) and checkpoints after every {@link DATA_CHECKPOINT_CHARS} of it, which
 * keeps a large-payload workload's checkpoints the size SQLite's default gives them.
 */
import type { SqliteConnection } from './driver.js'

/** Run data (string length, ~bytes) written between two checkpoints of a large-payload workload: ~1000 pages. */
export const DATA_CHECKPOINT_CHARS = 4 * 1024 * 1024

const CHECKPOINT = 'PRAGMA wal_checkpoint(PASSIVE)'

/** The data-driven half of the checkpoint policy; SQLite's `wal_autocheckpoint` is the other. */
export class WalCheckpoints {
  #written = 0
  #taken = 0
  readonly #enabled: boolean

  /** `autocheckpoint`: the store's `walAutocheckpoint`; 0 leaves every checkpoint to the application. */
  constructor(autocheckpoint: number) {
    this.#enabled = autocheckpoint > 0
  }

  /** Checkpoints this policy ran (not SQLite's own), for tests and diagnostics. */
  get taken(): number {
    return this.#taken
  }

  /** Counts run data a queued write carries. */
  add(chars: number): void {
    this.#written += chars
  }

  /**
   * After a COMMIT, outside any transaction: a passive checkpoint (it never waits for another
   * connection; what it cannot copy now, a later one will) once enough data went to the log.
   */
  afterCommit(conn: SqliteConnection): void {
    if (!this.#enabled || this.#written < DATA_CHECKPOINT_CHARS) return
    this.#written = 0
    this.#taken++
    try {
      conn.exec(CHECKPOINT)
    } catch {
      // Only an optimisation: SQLite's own page-count checkpoint still bounds the log.
    }
  }
}
