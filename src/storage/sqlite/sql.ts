/**
 * Every SQL statement of the SQLite adapter, as named constants built once per set of table
 * names. Values are always bound as `$name` parameters; the only text ever interpolated is a
 * table name that {@link resolveTables} validated with `assertIdentifier`.
 *
 * Lists of values (definition keys, queues, statuses) are bound as one JSON array and read with
 * `json_each`, so each statement keeps a fixed text (and its cached prepared form) whatever the
 * length of the list.
 */
import { assertIdentifier } from '../contract.js'

/** The tables of one store. */
export interface TableNames {
  runs: string
  checkpoints: string
  signals: string
  migrations: string
}

/** How the caller named the tables: a prefix (`flux_` → `flux_runs`…), or the origin's `tableName`. */
export interface TableNaming {
  tablePrefix?: string | undefined
  tableName?: string | undefined
}

/**
 * Table names from the options. `tableName` (the origin's option) names the runs table and its
 * companions get it as a prefix: `tableName: 'jobs'` → `jobs`, `jobs_checkpoints`,
 * `jobs_signals`, `jobs_migrations`. Otherwise `tablePrefix` (default `flux_`) is put before
 * `runs`, `checkpoints`, `signals`, `migrations`.
 */
export function resolveTables({ tablePrefix, tableName }: TableNaming): TableNames {
  if (tableName !== undefined && tablePrefix !== undefined) {
    throw new TypeError('SqliteStorage: pass tablePrefix or tableName, not both')
  }
  if (tableName !== undefined) {
    const base = assertIdentifier(tableName, 'table name')
    return {
      runs: base,
      checkpoints: assertIdentifier(`${base}_checkpoints`, 'table name'),
      signals: assertIdentifier(`${base}_signals`, 'table name'),
      migrations: assertIdentifier(`${base}_migrations`, 'table name'),
    }
  }
  const prefix = tablePrefix ?? 'flux_'
  // An empty prefix is allowed; validate it as the start of a name.
  if (prefix !== '') assertIdentifier(prefix, 'table prefix')
  return {
    runs: assertIdentifier(`${prefix}runs`, 'table name'),
    checkpoints: assertIdentifier(`${prefix}checkpoints`, 'table name'),
    signals: assertIdentifier(`${prefix}signals`, 'table name'),
    migrations: assertIdentifier(`${prefix}migrations`, 'table name'),
  }
}

/** The statuses a run is driven in. */
const IN_FLIGHT = ['running', 'rolling_back'] as const

/** A list of status literals as SQL text: `'running', 'rolling_back'`. */
const sqlList = (statuses: Iterable<string>): string => [...statuses].map((s) => `'${s}'`).join(', ')

/** The in-flight statuses; listRuns reads them from `live_idx`. */
export const IN_FLIGHT_STATUSES: ReadonlySet<string> = new Set(IN_FLIGHT)

/**
 * The WHERE of the partial index `live_idx`: runs in flight or leased. A query reads that index
 * only if its own WHERE repeats this text, so every such query includes it word for word.
 */
export const LIVE_RUNS = `(status IN (${sqlList(IN_FLIGHT)}) OR lease_token IS NOT NULL)`

/** The statuses `status_idx` leaves out: those a run passes through on every drive, and completed. */
export const UNINDEXED_STATUSES: ReadonlySet<string> = new Set([...IN_FLIGHT, 'completed'])

/**
 * The WHERE of the partial index `status_idx`: every status but those a run passes through on
 * every drive (in flight) or ends in as a rule (completed), whose entries would cost pages per run.
 */
export const RESTING_RUNS = `status NOT IN (${sqlList(UNINDEXED_STATUSES)})`

/**
 * The lease and routing conditions every claim branch shares (`r` is the runs row): one of the
 * worker's definition keys, one of its queues if it named any, and a lease that `leaseIsFree`
 * would call free — but not one the caller's own token holds live (a run it is driving is not
 * due; one whose lease it let lapse, e.g. a claim whose answer was lost, is).
 */
const CLAIMABLE = `r.definition_key IN (SELECT value FROM json_each($keys))
        AND ($queues IS NULL OR r.queue IN (SELECT value FROM json_each($queues)))
        AND (r.lease_token IS NULL OR r.lease_token <> $token OR r.lease_expires_at <= $now)
        AND (r.lease_token IS NULL OR r.lease_expires_at <= $now OR r.lease_owner = $owner)`

/**
 * How a claim query picks its runs: `plain` is `selectDue`; the others serve a claim with queue
 * limits and return what it needs to merge candidates in claim order (queue, priority, due,
 * arrival). `except` leaves out the queues in `$except` (a JSON array); `queue` reads one
 * queue, `$queue`, its pending runs from the index led by the queue.
 */
type DueMode = 'plain' | 'except' | 'queue'

/** The text of `selectDue` (see there) and of its variants for queue limits ({@link DueMode}). */
function dueSql(runs: string, signals: string, mode: DueMode): string {
  const claimable =
    mode === 'plain'
      ? CLAIMABLE
      : `${CLAIMABLE}
          AND ${mode === 'except' ? 'r.queue NOT IN (SELECT value FROM json_each($except))' : 'r.queue = $queue'}`
  const columns = mode === 'plain' ? 'id' : 'id, queue, priority, due, arrival'
  const queue = mode === 'plain' ? '' : 'r.queue AS queue, '
  const pendingIndex = mode === 'queue' ? `${runs}_pending_queue_idx` : `${runs}_pending_idx`
  return `SELECT ${columns} FROM (
      SELECT * FROM (
        SELECT r.id AS id, ${queue}r.priority AS priority, COALESCE(r.wake_at, r.created_at) AS due, r.rowid AS arrival
        FROM ${runs} AS r INDEXED BY ${pendingIndex}
        WHERE $pending AND r.status = 'pending' AND (r.wake_at IS NULL OR r.wake_at <= $now)
          AND ${claimable}
        ORDER BY r.priority DESC, COALESCE(r.wake_at, r.created_at), r.rowid
        LIMIT $limit)
      UNION ALL
      SELECT * FROM (
        SELECT r.id AS id, ${queue}r.priority AS priority, COALESCE(r.wake_at, r.created_at) AS due, r.rowid AS arrival
        FROM ${runs} AS r INDEXED BY ${runs}_live_idx
        WHERE $orphaned AND ${LIVE_RUNS} AND r.status IN (${sqlList(IN_FLIGHT)})
          AND ${claimable}
        ORDER BY r.priority DESC, COALESCE(r.wake_at, r.created_at), r.rowid
        LIMIT $limit)
      UNION ALL
      SELECT * FROM (
        SELECT r.id AS id, ${queue}r.priority AS priority, r.wake_at AS due, r.rowid AS arrival
        FROM ${runs} AS r INDEXED BY ${runs}_timer_idx
        WHERE $timer AND r.status = 'suspended' AND r.wake_at IS NOT NULL AND r.wake_at <= $now
          AND ${claimable}
          AND NOT EXISTS (SELECT 1 FROM ${signals} AS s WHERE s.run_id = r.id AND s.name = r.waiting_for)
        ORDER BY r.priority DESC, r.wake_at, r.rowid
        LIMIT $limit)
      UNION ALL
      SELECT * FROM (
        SELECT r.id AS id, ${queue}r.priority AS priority, COALESCE(r.wake_at, r.created_at) AS due, r.rowid AS arrival
        FROM ${signals} AS s CROSS JOIN ${runs} AS r ON r.id = s.run_id
        WHERE $signal AND r.status = 'suspended' AND r.waiting_for = s.name
          AND ${claimable}
        ORDER BY r.priority DESC, COALESCE(r.wake_at, r.created_at), r.rowid
        LIMIT $limit)
    )
    ORDER BY priority DESC, due, arrival
    LIMIT $limit`
}

const RUN_COLUMNS = `id, workflow_name, workflow_version, definition_hash, definition_key, status, queue,
  priority, input, cursor, waiting_for, wake_at, lease_owner, lease_token, lease_expires_at, error, meta,
  created_at, updated_at, completed_at, revision`

const RUN_VALUES = `$id, $workflowName, $workflowVersion, $definitionHash, $definitionKey, $status, $queue,
  $priority, $input, $cursor, $waitingFor, $wakeAt, $leaseOwner, $leaseToken, $leaseExpiresAt, $error, $meta,
  $createdAt, $updatedAt, $completedAt, $revision`

/** Optional filters of `listRuns`; each binds its own parameters and they are joined with AND. */
export interface ListFilterSql {
  workflowName: string
  statuses: string
  /** Repeats `live_idx`'s WHERE, added when every status asked is in flight. */
  live: string
  /** Repeats `status_idx`'s WHERE, added when no status asked is running or completed. */
  resting: string
  /**
   * `id` in [`$idFrom`, `$idTo`): a primary-key range, and exactly the ids that start with the
   * prefix (see `prefixUpperBound`). No LIKE (its wildcards and ASCII case folding) and no
   * substr() (it stops at an embedded U+0000).
   */
  idPrefixRange: string
  /** For a prefix with no successor string (all U+10FFFF): the lower bound alone is exact. */
  idPrefixOpen: string
  createdAfter: string
  createdBefore: string
}

/**
 * The run columns a checkpoint patch may set, as [column, patch key], in the order of their bit
 * in a checkpoint statement's mask; the first five are also read back to skip unchanged values.
 */
export const CHECKPOINT_COLUMNS = [
  ['status', 'status'],
  ['cursor', 'cursor'],
  ['waiting_for', 'waitingFor'],
  ['wake_at', 'wakeAt'],
  ['error', 'error'],
  ['meta', 'meta'],
  ['completed_at', 'completedAt'],
] as const
/** Mask bit: the checkpoint drops the lease. */
export const RELEASE_BIT = 1 << CHECKPOINT_COLUMNS.length
/** Mask bit: the checkpoint extends the lease to `$leaseExpiresAt`. */
export const LEASE_BIT = RELEASE_BIT << 1

/** Builds the statements for one set of tables. */
export function buildSql(t: TableNames) {
  const { runs, checkpoints, signals, migrations } = t
  const checkpointStatements: string[] = []
  return {
    // Schema bookkeeping.
    createMigrationsTable: `CREATE TABLE IF NOT EXISTS ${migrations} (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    )`,
    selectMigrations: `SELECT version, name, applied_at AS appliedAt FROM ${migrations} ORDER BY version`,
    insertMigration: `INSERT INTO ${migrations} (version, name, applied_at) VALUES ($version, $name, $appliedAt)`,
    selectTableColumns: `SELECT name FROM pragma_table_info($table)`,

    // Runs.
    insertRunIfAbsent: `INSERT INTO ${runs} (${RUN_COLUMNS}) VALUES (${RUN_VALUES}) ON CONFLICT(id) DO NOTHING`,
    upsertRun: `INSERT INTO ${runs} (${RUN_COLUMNS}) VALUES (${RUN_VALUES})
      ON CONFLICT(id) DO UPDATE SET
        workflow_name = excluded.workflow_name, workflow_version = excluded.workflow_version,
        definition_hash = excluded.definition_hash, definition_key = excluded.definition_key,
        status = excluded.status, queue = excluded.queue, priority = excluded.priority,
        input = excluded.input, cursor = excluded.cursor, waiting_for = excluded.waiting_for,
        wake_at = excluded.wake_at, lease_owner = excluded.lease_owner, lease_token = excluded.lease_token,
        lease_expires_at = excluded.lease_expires_at, error = excluded.error, meta = excluded.meta,
        created_at = excluded.created_at, updated_at = excluded.updated_at,
        completed_at = excluded.completed_at, revision = excluded.revision`,
    selectRun: `SELECT ${RUN_COLUMNS} FROM ${runs} WHERE id = $id`,
    selectRevision: `SELECT revision FROM ${runs} WHERE id = $id`,
    selectLeaseToken: `SELECT lease_token FROM ${runs} WHERE id = $id`,
    deleteRun: `DELETE FROM ${runs} WHERE id = $id`,

    /** What a checkpoint compares its patch with, read inside its transaction (and its fence). */
    selectCheckpointRow: `SELECT lease_token, status, cursor, waiting_for, wake_at, error FROM ${runs} WHERE id = $id`,
    /**
     * The fenced checkpoint UPDATE naming only the columns in `mask` (bits of CHECKPOINT_COLUMNS,
     * RELEASE_BIT, LEASE_BIT). Naming a column makes SQLite rewrite every index over it or whose
     * WHERE reads it, even to the same value: a generic UPDATE assigning every column wrote four
     * pages per plain step on this schema, the lean one writes one. One statement per mask, cached.
     */
    checkpointRun(mask: number): string {
      let text = checkpointStatements[mask]
      if (text === undefined) {
        const set: string[] = []
        CHECKPOINT_COLUMNS.forEach(([column, key], bit) => {
          if (mask & (1 << bit)) set.push(`${column} = $${key}`)
        })
        if (mask & RELEASE_BIT) set.push('lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL')
        else if (mask & LEASE_BIT) set.push('lease_expires_at = $leaseExpiresAt')
        set.push('updated_at = $now, revision = revision + 1')
        text = `UPDATE ${runs} SET ${set.join(', ')} WHERE id = $id AND lease_token = $token`
        checkpointStatements[mask] = text
      }
      return text
    },
    renewLease: `UPDATE ${runs} SET lease_expires_at = $expiresAt WHERE id = $id AND lease_token = $token`,
    releaseLease: `UPDATE ${runs}
      SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $now, revision = revision + 1
      WHERE id = $id AND lease_token = $token`,
    takeLease: `UPDATE ${runs}
      SET lease_owner = $owner, lease_token = $token, lease_expires_at = $expiresAt, updated_at = $now,
        revision = revision + 1
      WHERE id = $id`,
    touchRun: `UPDATE ${runs} SET updated_at = $now, revision = revision + 1 WHERE id = $id`,
    cancelRun: `UPDATE ${runs}
      SET status = 'cancelled', error = $error, completed_at = $now, waiting_for = NULL, wake_at = NULL,
        lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $now,
        revision = revision + 1
      WHERE id = $id`,

    /**
     * Due runs for claimDue, run inside BEGIN IMMEDIATE (what keeps two processes from taking
     * one run: the second waits for the first's COMMIT, then sees its leases). One branch per
     * ClaimKind, switched on by its `$kind` flag (a term with no column, which SQLite tests once
     * before the branch's loop), each read from its own partial index and cut at the limit; the
     * union is ordered as MemoryStorage orders: priority, due time, arrival. INDEXED BY because
     * the planner would otherwise take the status index and sort every active run; the mailbox
     * branch is a CROSS JOIN, which SQLite never reorders, so it starts from the few stored
     * signals. A suspended run whose signal is here is of kind `signal` even when its timer is
     * also due, as in the reference. Status lists stay word for word those of the indexes.
     */
    selectDue: dueSql(runs, signals, 'plain'),

    // A claim with queue limits (claim.ts): the statements below, all inside its BEGIN IMMEDIATE.

    /**
     * Live leases per capped queue ($queues, a JSON array), from the partial index `live_idx`:
     * only runs in flight or leased are in it, and queue and lease_token are its columns, so the
     * table is read only for the expiry of the capped queues' leases (one row per slot).
     */
    countLeased: `SELECT queue, COUNT(*) AS n FROM ${runs} INDEXED BY ${runs}_live_idx
      WHERE ${LIVE_RUNS} AND lease_token IS NOT NULL AND queue IN (SELECT value FROM json_each($queues))
        AND lease_expires_at > $now
      GROUP BY queue`,

    /**
     * Up to `$limit` queues that hold pending runs, in name order: one seek per queue in
     * `pending_queue_idx` (a loose index scan), however many runs each holds.
     */
    pendingQueues: `WITH RECURSIVE q(name) AS (
        SELECT (SELECT queue FROM ${runs} INDEXED BY ${runs}_pending_queue_idx
                WHERE status = 'pending' ORDER BY queue LIMIT 1)
        UNION ALL
        SELECT (SELECT queue FROM ${runs} INDEXED BY ${runs}_pending_queue_idx
                WHERE status = 'pending' AND queue > q.name ORDER BY queue LIMIT 1)
        FROM q WHERE q.name IS NOT NULL)
      SELECT name FROM q WHERE name IS NOT NULL LIMIT $limit`,

    /** Due runs of one queue, `$queue`, in claim order: each branch of selectDue, for that queue. */
    selectDueOfQueue: dueSql(runs, signals, 'queue'),

    /** Due runs of every queue but those in `$except`, in claim order. */
    selectDueExcept: dueSql(runs, signals, 'except'),

    // Listing: SELECT/COUNT heads and the filter fragments `listQuery` joins.
    listHead: `SELECT ${RUN_COLUMNS} FROM ${runs}`,
    countHead: `SELECT COUNT(*) AS total FROM ${runs}`,
    /** For in-flight statuses only: the few runs of `live_idx`, sorted (the planner would walk created_idx). */
    listHeadLive: `SELECT ${RUN_COLUMNS} FROM ${runs} INDEXED BY ${runs}_live_idx`,
    countHeadLive: `SELECT COUNT(*) AS total FROM ${runs} INDEXED BY ${runs}_live_idx`,
    listTail: 'ORDER BY created_at DESC, id DESC LIMIT $limit OFFSET $offset',
    listFilters: {
      workflowName: 'workflow_name = $workflowName',
      statuses: 'status IN (SELECT value FROM json_each($statuses))',
      live: LIVE_RUNS,
      resting: RESTING_RUNS,
      idPrefixRange: 'id >= $idFrom AND id < $idTo',
      idPrefixOpen: 'id >= $idFrom',
      createdAfter: 'created_at >= $createdAfter',
      createdBefore: 'created_at < $createdBefore',
    } satisfies ListFilterSql,

    // Checkpoints. The next seq is read from the primary key (run_id, seq): one index seek.
    /**
     * The next checkpoint number of a run (from the primary key index), then a plain INSERT.
     * One `INSERT … SELECT … FROM checkpoints` would read the table it writes, so SQLite would
     * stage the row — a 100 KB body included — in a temporary table first: 50% more per write.
     */
    nextCheckpointSeq: `SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM ${checkpoints} WHERE run_id = $id`,
    insertCheckpoint: `INSERT INTO ${checkpoints} (run_id, seq, at, body) VALUES ($id, $seq, $at, $body)`,
    selectCheckpoints: `SELECT seq, at, body FROM ${checkpoints} WHERE run_id = $id ORDER BY seq`,
    deleteCheckpoints: `DELETE FROM ${checkpoints} WHERE run_id = $id`,

    // Mailbox. rowid order is arrival order.
    insertSignal: `INSERT INTO ${signals} (run_id, name, payload, at) VALUES ($id, $name, $payload, $at)`,
    selectSignal: `SELECT name, payload, at FROM ${signals} WHERE run_id = $id AND name = $name`,
    selectSignals: `SELECT name, payload, at FROM ${signals} WHERE run_id = $id ORDER BY rowid`,
    deleteSignal: `DELETE FROM ${signals} WHERE run_id = $id AND name = $name`,
    deleteSignals: `DELETE FROM ${signals} WHERE run_id = $id`,
  } as const
}

/** The statements of one store. */
export type StoreSql = ReturnType<typeof buildSql>

/** Transaction control, shared by every store. */
export const TX = {
  /** Takes the write lock up front, so a read-then-write can never be overtaken by another process. */
  beginImmediate: 'BEGIN IMMEDIATE',
  /** For multi-statement reads: one WAL snapshot for all of them. */
  beginRead: 'BEGIN DEFERRED',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',
} as const

/** The PRAGMAs applied when a connection opens. Each takes a validated literal, never user text. */
export const PRAGMA = {
  walMode: 'PRAGMA journal_mode = WAL',
  /**
   * For a batch of `sync: false` writes only: in WAL mode NORMAL writes the WAL frames at COMMIT
   * (so they survive a crash of the process) and leaves the fsync to a later synced commit or
   * checkpoint. It cannot change inside a transaction, so it is set before BEGIN and put back
   * after COMMIT.
   */
  relaxed: 'PRAGMA synchronous = NORMAL',
  synchronous: {
    OFF: 'PRAGMA synchronous = OFF',
    NORMAL: 'PRAGMA synchronous = NORMAL',
    FULL: 'PRAGMA synchronous = FULL',
    EXTRA: 'PRAGMA synchronous = EXTRA',
  },
  /**
   * PRAGMA takes no bound parameter, so the one number is written into the text — only after
   * checking it is a plain non-negative integer, as the table prefix is checked.
   */
  busyTimeout: (ms: number): string => {
    if (!Number.isSafeInteger(ms) || ms < 0) throw new TypeError(`Invalid busy timeout ${ms}`)
    return `PRAGMA busy_timeout = ${ms}`
  },
  /** Same check: a whole number of pages (0 turns SQLite's automatic checkpoints off). */
  walAutocheckpoint: (pages: number): string => {
    if (!Number.isSafeInteger(pages) || pages < 0) throw new TypeError(`Invalid page count ${pages}`)
    return `PRAGMA wal_autocheckpoint = ${pages}`
  },
} as const
