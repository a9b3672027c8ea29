/**
 * fluxflow/sqlite: the embedded durable store.
 *
 * Needs `better-sqlite3` (12.x) on Node, an optional peer dependency; uses the built-in
 * `bun:sqlite` on Bun. Neither is loaded before `init()`.
 */
export type { SqliteDatabaseLike, SqliteStatementLike } from './driver.js'
export type { GroupCommitStats } from './group-commit.js'
export { type AppliedMigration, MIGRATIONS, type Migration, SCHEMA_VERSION } from './migrations.js'
export type { TableNames } from './sql.js'
export { SqliteStorage, type SqliteStorageOptions, type SqliteSynchronous } from './sqlite-storage.js'
