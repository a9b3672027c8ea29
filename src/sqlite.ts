/**
 * fluxflow/sqlite: the embedded durable store (better-sqlite3 12 on Node, bun:sqlite on Bun).
 *
 * @example
 * ```ts
 * import { FluxEngine } from 'fluxflow'
 * import { SqliteStorage } from 'fluxflow/sqlite'
 *
 * const engine = new FluxEngine({ storage: new SqliteStorage({ path: './data/flux.db' }) })
 * ```
 */
export {
  type AppliedMigration,
  type GroupCommitStats,
  MIGRATIONS,
  type Migration,
  SCHEMA_VERSION,
  type SqliteDatabaseLike,
  type SqliteStatementLike,
  SqliteStorage,
  type SqliteStorageOptions,
  type SqliteSynchronous,
  type TableNames,
} from './storage/sqlite/index.js'
