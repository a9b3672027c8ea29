/**
 * The schema of the SQLite adapter as numbered migrations, and the runner that applies them.
 *
 * Each applied migration is a row in the migrations table. The runner applies the missing ones
 * in order inside one `BEGIN IMMEDIATE` transaction (SQLite DDL is transactional), so several
 * processes opening one file at once apply each migration exactly once: the second waits for
 * the first's COMMIT and then finds nothing to do. Every statement is also `IF NOT EXISTS`, so a
 * half-applied schema from a crash can never wedge it. Migrations are append-only: a released
 * one is never edited, a change is a new number.
 */
import { StorageError } from '../../errors.js'
import type { SqliteConnection } from './driver.js'
import { buildSql, LIVE_RUNS, RESTING_RUNS, type TableNames, TX } from './sql.js'

/** One schema change. */
export interface Migration {
  version: number
  name: string
  /** Statements, each run on its own (drivers differ on multi-statement text). */
  statements: (t: TableNames) => string[]
}

/**
 * No FOREIGN KEY clauses: the verbs delete a run's checkpoints and signals in the same
 * transaction as the run, which holds whatever a connection's `foreign_keys` setting is (a
 * handle passed by the user may have it off), and an append does not pay a parent lookup.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'runs, checkpoints and signals',
    statements: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.runs} (
        id TEXT NOT NULL PRIMARY KEY,
        workflow_name TEXT NOT NULL,
        workflow_version TEXT,
        definition_hash TEXT NOT NULL,
        definition_key TEXT NOT NULL,
        status TEXT NOT NULL,
        queue TEXT NOT NULL DEFAULT 'default',
        priority INTEGER NOT NULL DEFAULT 0,
        input TEXT NOT NULL,
        cursor INTEGER NOT NULL DEFAULT 0,
        waiting_for TEXT,
        wake_at INTEGER,
        lease_owner TEXT,
        lease_token TEXT,
        lease_expires_at INTEGER,
        error TEXT,
        meta TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        completed_at INTEGER,
        revision INTEGER NOT NULL DEFAULT 1
      )`,
      // A rowid table, not WITHOUT ROWID: bodies can be 100 KB and would bloat the key b-tree.
      `CREATE TABLE IF NOT EXISTS ${t.checkpoints} (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      )`,
      `CREATE TABLE IF NOT EXISTS ${t.signals} (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        at INTEGER NOT NULL,
        UNIQUE (run_id, name)
      )`,
    ],
  },
  {
    version: 2,
    name: 'indexes for claims and listing',
    statements: (t) => [
      // claimDue reads one small set per kind of due run, each from its own partial index, so
      // finished runs, sleepers and parked waits cost nothing until they can be claimed, and a
      // recovery pass (no `pending`) never walks a backlog of queued work:
      // queued runs and orphaned active runs, each in claim order (read until `limit` is met)…
      `CREATE INDEX IF NOT EXISTS ${t.runs}_pending_idx
        ON ${t.runs} (priority DESC, COALESCE(wake_at, created_at))
        WHERE status = 'pending'`,
      `CREATE INDEX IF NOT EXISTS ${t.runs}_active_idx
        ON ${t.runs} (priority DESC, COALESCE(wake_at, created_at))
        WHERE status IN ('running', 'rolling_back')`,
      // …suspended runs with a timer, by due time (a range up to now)…
      `CREATE INDEX IF NOT EXISTS ${t.runs}_timer_idx ON ${t.runs} (wake_at)
        WHERE status = 'suspended' AND wake_at IS NOT NULL`,
      // …and waits whose signal arrived, found from the mailbox (its UNIQUE (run_id, name)).
      // listRuns: newest first, unfiltered or by workflow or by status, paged by LIMIT/OFFSET.
      `CREATE INDEX IF NOT EXISTS ${t.runs}_created_idx ON ${t.runs} (created_at DESC, id DESC)`,
      `CREATE INDEX IF NOT EXISTS ${t.runs}_name_created_idx
        ON ${t.runs} (workflow_name, created_at DESC, id DESC)`,
      `CREATE INDEX IF NOT EXISTS ${t.runs}_status_created_idx
        ON ${t.runs} (status, created_at DESC, id DESC)`,
    ],
  },
  {
    version: 3,
    name: 'indexes for queue limits',
    statements: (t) => [
      // A claim with queue limits counts the live leases of each capped queue. Only leased runs
      // (about one per worker slot) are in this index, so the count reads a handful of rows. The
      // expiry is not a column: every checkpoint extends it, and would rewrite the entry (a
      // third more time per checkpoint, measured); the few rows are checked in the table.
      `CREATE INDEX IF NOT EXISTS ${t.runs}_leased_idx
        ON ${t.runs} (queue)
        WHERE lease_token IS NOT NULL`,
      // …and reads queued runs queue by queue, in claim order, so a backlog in one queue is
      // never walked through to reach another's runs.
      `CREATE INDEX IF NOT EXISTS ${t.runs}_pending_queue_idx
        ON ${t.runs} (queue, priority DESC, COALESCE(wake_at, created_at))
        WHERE status = 'pending'`,
    ],
  },
  {
    version: 4,
    name: 'fewer index writes per run',
    // A run that goes from start to `completed` in one drive wrote ~24 pages to the WAL, ten of
    // them entries of these three indexes that live only while the run does. Here each such run
    // touches one in-flight index instead of two, and the status listing not at all.
    statements: (t) => [
      `DROP INDEX IF EXISTS ${t.runs}_active_idx`,
      `DROP INDEX IF EXISTS ${t.runs}_leased_idx`,
      `DROP INDEX IF EXISTS ${t.runs}_status_created_idx`,
      // In-flight runs (orphan claims, in claim order) and leased ones (live leases per capped
      // queue, counted from queue and lease_token without reading the table), in one index: a
      // run enters it once when it starts and leaves once when it ends.
      `CREATE INDEX IF NOT EXISTS ${t.runs}_live_idx
        ON ${t.runs} (priority DESC, COALESCE(wake_at, created_at), queue, lease_token)
        WHERE ${LIVE_RUNS}`,
      // listRuns by status, for the statuses a run rests in. Running runs are listed from
      // live_idx (a few), completed ones from created_idx (the bulk of any store).
      `CREATE INDEX IF NOT EXISTS ${t.runs}_status_idx
        ON ${t.runs} (status, created_at DESC, id DESC)
        WHERE ${RESTING_RUNS}`,
    ],
  },
])

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0)

/** A row of the migrations table. */
export interface AppliedMigration {
  version: number
  name: string
  appliedAt: number
}

/**
 * Brings the schema up to `target` (default: the latest) and returns the versions it applied.
 * Refuses a file whose schema is newer than this build knows, rather than guess at it.
 */
export function migrate(
  conn: SqliteConnection,
  tables: TableNames,
  options: { target?: number; now?: number } = {},
): number[] {
  const sql = buildSql(tables)
  const target = options.target ?? SCHEMA_VERSION
  conn.exec(sql.createMigrationsTable)
  conn.exec(TX.beginImmediate)
  try {
    assertNotOriginTable(conn, tables)
    const done = new Set(conn.all<AppliedMigration>(sql.selectMigrations).map((m) => Number(m.version)))
    const newest = Math.max(0, ...done)
    if (newest > SCHEMA_VERSION) {
      throw new StorageError(
        `The tables "${tables.runs}"… are at schema version ${newest}, newer than this fluxflow knows ` +
          `(${SCHEMA_VERSION}): upgrade fluxflow, or use another tablePrefix`,
      )
    }
    const applied: number[] = []
    for (const migration of MIGRATIONS) {
      if (migration.version > target || done.has(migration.version)) continue
      for (const statement of migration.statements(tables)) conn.exec(statement)
      conn.run(sql.insertMigration, {
        version: migration.version,
        name: migration.name,
        appliedAt: options.now ?? Date.now(),
      })
      applied.push(migration.version)
    }
    conn.exec(TX.commit)
    return applied
  } catch (error) {
    conn.exec(TX.rollback)
    throw error
  }
}

/** The migrations recorded in a store's migrations table, oldest first. */
export function appliedMigrations(conn: SqliteConnection, tables: TableNames): AppliedMigration[] {
  return conn
    .all<AppliedMigration>(buildSql(tables).selectMigrations)
    .map((m) => ({ version: Number(m.version), name: m.name, appliedAt: Number(m.appliedAt) }))
}

/**
 * `@gravito/flux`'s BunSQLiteStorage keeps whole states in one table (default `flux_workflows`)
 * with other columns. Pointing `tableName` at such a table must fail loudly, not half-work.
 */
function assertNotOriginTable(conn: SqliteConnection, tables: TableNames): void {
  const columns = new Set(
    conn
      .all<{ name: string }>(buildSql(tables).selectTableColumns, { table: tables.runs })
      .map((c) => c.name),
  )
  if (columns.size > 0 && !columns.has('definition_key')) {
    const origin = columns.has('history') && columns.has('current_step')
    throw new StorageError(
      `Table "${tables.runs}" already exists with another layout` +
        (origin ? ' (the one @gravito/flux BunSQLiteStorage writes)' : '') +
        ': give fluxflow its own tableName or tablePrefix',
    )
  }
}
