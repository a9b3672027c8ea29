/**
 * fluxflow/bun: the origin's `BunSQLiteStorage`, for code written against `@gravito/flux`.
 *
 * It is {@link SqliteStorage} (bun:sqlite on Bun, better-sqlite3 on Node) with the origin's
 * defaults and options:
 * - `path` defaults to `':memory:'`, as in the origin (SqliteStorage defaults to a file).
 * - `tableName` names the runs table; the checkpoints, signals and migrations tables take it as
 *   their prefix (`tableName: 'flux_workflows'` → `flux_workflows`, `flux_workflows_checkpoints`,
 *   `flux_workflows_signals`, `flux_workflows_migrations`). Without it the tables are
 *   `flux_runs`, `flux_checkpoints`… The layout is fluxflow's, not the origin's single table:
 *   pointing `tableName` at a table the origin wrote fails at `init()` with a clear error.
 * - As in the origin, the store opens itself on first use if `init()` was not called.
 *
 * @example
 * ```ts
 * import { FluxEngine } from 'fluxflow'
 * import { BunSQLiteStorage } from 'fluxflow/bun'
 *
 * const engine = new FluxEngine({ storage: new BunSQLiteStorage({ path: './data/flux.db' }) })
 * ```
 */
import { SqliteStorage, type SqliteStorageOptions } from './storage/sqlite/sqlite-storage.js'

/** The origin's options, plus every {@link SqliteStorageOptions} one. */
export interface BunSQLiteStorageOptions extends SqliteStorageOptions {
  /** Database file path. Default `':memory:'` (the origin's default). */
  path?: string
  /** Name of the runs table (see the module comment for the other tables). */
  tableName?: string
}

/** The origin's name for the SQLite store. */
export class BunSQLiteStorage extends SqliteStorage {
  constructor(options: BunSQLiteStorageOptions = {}) {
    super({ ...options, path: options.path ?? ':memory:' })
  }
}

export type { SqliteDatabaseLike } from './storage/sqlite/driver.js'
export { SqliteStorage, type SqliteStorageOptions } from './storage/sqlite/sqlite-storage.js'
