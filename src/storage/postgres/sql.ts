/**
 * Every SQL statement of the Postgres adapter, as named, parameterized text.
 *
 * Only the schema name is interpolated, and only after `assertIdentifier` has validated it (it is
 * also double-quoted, so its case is kept). Values always travel as parameters. Times are epoch
 * milliseconds passed in by the engine (`now`): the database clock is never used for leases or
 * timers, so a fake clock in a test reaches the SQL (as in graphile-worker).
 *
 * Atomicity strategy, verb by verb, is documented beside each statement.
 */
import { assertIdentifier } from '../contract.js'
import { PAYLOAD, RELAXED, writeStatements } from './apply-sql.js'
import { claimStatements } from './claim-sql.js'
import { migrations } from './schema-sql.js'

const TERMINAL = `('completed', 'failed', 'rolled_back', 'compensation_failed', 'cancelled')`

/** Columns of a runs row, in the order `runParams` (rows.ts) fills them. */
const RUN_INSERT_COLUMNS = `id, workflow_name, workflow_version, definition_hash, definition_key, status, queue,
  priority, input, cursor, waiting_for, wake_at, lease_owner, lease_token, lease_expires_at, error, meta,
  created_at, updated_at, completed_at`

/**
 * The columns a run is read with. Never `*`: the hot statements are prepared once per connection,
 * and a prepared `*` fails ("cached plan must not change result type") once a later migration
 * adds a column while connections are alive.
 */
const RUN_COLUMNS =
  `id workflow_name workflow_version definition_hash definition_key status queue priority input
  cursor waiting_for wake_at lease_owner lease_token lease_expires_at error meta created_at updated_at completed_at
  revision`.split(/\s+/)

/** `alias.col, …` (or bare names) for {@link RUN_COLUMNS}. */
function runColumns(alias?: string): string {
  return RUN_COLUMNS.map((c) => (alias ? `${alias}.${c}` : c)).join(', ')
}

/** Snapshot columns: the run row plus its checkpoints and mailbox, read in one statement (one snapshot). */
const SNAPSHOT_COLUMNS = (s: string) => `${runColumns('r')},
  coalesce((SELECT json_agg(json_build_object('seq', c.seq, 'at', c.at, 'body', c.body) ORDER BY c.seq)
            FROM ${s}.checkpoints c WHERE c.run_id = r.id), '[]'::json) AS checkpoints,
  coalesce((SELECT json_agg(json_build_object('name', g.name, 'payload', g.payload, 'at', g.at) ORDER BY g.position)
            FROM ${s}.signals g WHERE g.run_id = r.id), '[]'::json) AS signals`

/**
 * The `listRuns` filter; parameters $1..$5, all nullable. $3 is the id prefix already escaped by
 * `prefixPattern` (rows.ts): backslash is LIKE's default escape character.
 */
const LIST_FILTER = `($1::text IS NULL OR workflow_name = $1::text)
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
  AND ($3::text IS NULL OR id LIKE $3::text)
  AND ($4::bigint IS NULL OR created_at >= $4::bigint)
  AND ($5::bigint IS NULL OR created_at < $5::bigint)`

/**
 * A create statement: inserts `rows` (a SELECT of the run columns then the revision, joined to
 * `cfg` so the commit mode is set whenever a row is written), never over an existing run, and
 * announces the new `pending` ones. $21 relaxed commit, $22 channel.
 */
function createStatement(s: string, rows: string): string {
  return `WITH ${RELAXED('$21')}, inserted AS (
        INSERT INTO ${s}.runs (${RUN_INSERT_COLUMNS}, revision)
        ${rows}
        ON CONFLICT (id) DO NOTHING
        RETURNING id, status, wake_at
      ), ping AS (
        SELECT pg_notify($22, ${PAYLOAD(`CASE WHEN wake_at IS NULL THEN 'run' ELSE 'timer' END`, 'id')})
        FROM inserted WHERE status = 'pending'
      )
      SELECT inserted.id, (SELECT count(*) FROM ping) AS notified FROM inserted`
}

/** One numbered migration: applied once, in order, inside the migration transaction. */
export type { Migration } from './schema-sql.js'

/** All statements for one schema. */
export type Statements = ReturnType<typeof buildStatements>

/**
 * Builds the statements for `schema`.
 * @throws {TypeError} when `schema` is not a plain identifier.
 */
export function buildStatements(schema: string) {
  const s = `"${assertIdentifier(schema, 'schema name')}"`
  return Object.freeze({
    /** The NOTIFY channel: named after the schema (case kept), so schemas never wake each other. */
    listen: `LISTEN ${s}`,

    /**
     * Serialises migrations across processes. A transaction-scoped advisory lock is released by
     * COMMIT/ROLLBACK, and by the server if the migrating process dies, so it can never leak.
     */
    migrationLock: `SELECT pg_advisory_xact_lock(hashtextextended('fluxflow.migrate.' || $1::text, 0))`,
    createSchema: `CREATE SCHEMA IF NOT EXISTS ${s}`,
    createMigrationsTable: `CREATE TABLE IF NOT EXISTS ${s}.migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`,
    appliedMigrations: `SELECT version FROM ${s}.migrations ORDER BY version`,
    recordMigration: `INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`,
    migrations: migrations(s),

    /**
     * createRun, for every run whose creation queued up while the writer's previous statement was
     * in flight (group commit, as for checkpoints; writer.ts): one multi-row INSERT. `ON CONFLICT
     * DO NOTHING` never overwrites, and within one statement the first of two rows with one id
     * wins. RETURNING names the rows inserted; for any other, the caller reads the existing row
     * with `getRun` in a new statement (this statement's snapshot may predate a concurrent
     * creator's commit). New `pending` runs are announced by NOTIFY. `cfg` is joined to the rows,
     * so the commit mode is set whenever anything is written.
     * Params: $1..$20 one array per column (RUN_INSERT_COLUMNS order), $21 relaxed commit,
     * $22 channel.
     */
    createRuns: createStatement(
      s,
      `SELECT n.*, 1 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::float8[], $9::text[], $10::int[], $11::text[], $12::bigint[], $13::text[],
            $14::text[], $15::bigint[], $16::text[], $17::text[], $18::bigint[], $19::bigint[],
            $20::bigint[]) AS n, cfg`,
    ),

    /** `createRuns` for a lone create (the sequential case): scalar parameters, same outcome. */
    createOne: createStatement(
      s,
      'SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 1 FROM cfg',
    ),

    /** `createOne` of a run that is not `pending`: nothing to announce, so a bare INSERT ($22 unused). */
    createOneQuiet: `WITH ${RELAXED('$21')}
      INSERT INTO ${s}.runs (${RUN_INSERT_COLUMNS}, revision)
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 1
      FROM cfg WHERE $22::text IS NOT NULL
      ON CONFLICT (id) DO NOTHING
      RETURNING id`,

    getRun: `SELECT ${runColumns()} FROM ${s}.runs WHERE id = $1`,

    /** loadRun: one statement, so the row, its checkpoints and its mailbox come from one snapshot. */
    loadRun: `SELECT ${SNAPSHOT_COLUMNS(s)} FROM ${s}.runs r WHERE r.id = $1`,
    loadRuns: `SELECT ${SNAPSHOT_COLUMNS(s)} FROM ${s}.runs r WHERE r.id = ANY($1::text[])`,

    /**
     * listRuns: total and page from one snapshot. The LEFT JOIN LATERAL keeps one row (with a
     * null page) when the page is empty, so the total is still known. `id` is `COLLATE "C"`, so
     * the tie-break is byte order (what JavaScript's `<` gives for all but astral characters) and
     * `LIKE 'prefix%'` is served by the primary key.
     */
    listRuns: `SELECT t.total, ${runColumns('p')}
      FROM (SELECT count(*) AS total FROM ${s}.runs WHERE ${LIST_FILTER}) t
      LEFT JOIN LATERAL (
        SELECT ${runColumns()} FROM ${s}.runs WHERE ${LIST_FILTER}
        ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7
      ) p ON true`,

    /**
     * claimRun: one UPDATE. The row lock it takes makes a concurrent claim wait, and READ
     * COMMITTED re-checks the lease predicate on the row version that won (EvalPlanQual), so two
     * claimers never both succeed. The snapshot is read afterwards with `loadRuns`, in a new
     * statement: a checkpoint the previous owner committed while this statement waited for the
     * lock is invisible to this statement's snapshot but visible to the next one.
     */
    claimRun: `UPDATE ${s}.runs
      SET lease_owner = $2, lease_token = $3, lease_expires_at = $4, updated_at = $5, revision = revision + 1
      WHERE id = $1
        AND ($6::text[] IS NULL OR status = ANY($6::text[]))
        AND (lease_token IS NULL OR lease_token = $3 OR lease_expires_at <= $5 OR lease_owner = $2)
      RETURNING id`,

    // claimDue, and the claim with queue limits: claim-sql.ts.
    ...claimStatements(s),

    /**
     * renewLeases: fenced by token; a lease this token lost is simply not returned. Rows are
     * locked in id order, as applyWrites locks them (see there), so the two never deadlock.
     */
    renewLeases: `WITH lk AS (
        SELECT id FROM ${s}.runs WHERE id = ANY($1::text[]) AND lease_token = $2 ORDER BY id FOR UPDATE
      )
      UPDATE ${s}.runs r SET lease_expires_at = $3
      FROM lk WHERE r.id = lk.id AND r.lease_token = $2 RETURNING r.id`,

    // The group-commit writes (applyStep, applyRelease, applyOne, applyWrites, parkProbe): apply-sql.ts.
    ...writeStatements(s),

    /**
     * deliverSignal: one statement. `FOR NO KEY UPDATE` on the run row serialises it with
     * park/checkpoint/claim/other deliveries of that run, and READ COMMITTED hands us the newest
     * row version once the lock is ours, so the verdict (ended / mismatch / delivered / queued)
     * is computed from the run as it is at commit. `ON CONFLICT DO NOTHING` on UNIQUE(run_id,
     * name) settles concurrent deliveries of one name (it sees committed rows regardless of
     * snapshot): exactly one stores it, the others learn `stored = false` → 'duplicate'. Storing
     * bumps the run's revision, which is what lets a concurrent park notice (see applyWrites).
     * $1 id, $2 name, $3 payload, $4 now, $5 channel.
     */
    deliverSignal: `WITH target AS (
        SELECT ${runColumns()} FROM ${s}.runs WHERE id = $1 FOR NO KEY UPDATE
      ), verdict AS (
        SELECT id, CASE
            WHEN status IN ${TERMINAL} THEN 'ended'
            WHEN status = 'suspended' AND waiting_for IS NOT NULL AND waiting_for <> $2 THEN 'mismatch'
            WHEN status = 'suspended' AND waiting_for IS NOT NULL THEN 'delivered'
            ELSE 'queued'
          END AS outcome
        FROM target
      ), stored AS (
        INSERT INTO ${s}.signals (run_id, name, payload, at)
        SELECT id, $2, $3, $4 FROM verdict WHERE outcome IN ('delivered', 'queued')
        ON CONFLICT (run_id, name) DO NOTHING
        RETURNING run_id
      ), touched AS (
        UPDATE ${s}.runs r SET updated_at = $4, revision = r.revision + 1
        FROM stored WHERE r.id = stored.run_id
        RETURNING r.id
      ), ping AS (
        SELECT pg_notify($5, ${PAYLOAD(`'signal'`, 'v.id')})
        FROM verdict v JOIN stored ON stored.run_id = v.id WHERE v.outcome = 'delivered'
      )
      SELECT v.outcome AS verdict, EXISTS (SELECT 1 FROM stored) AS stored,
        (SELECT count(*) FROM ping) AS notified, ${runColumns('t')}
      FROM target t JOIN verdict v ON v.id = t.id`,

    /** cancelRun: unfenced by design; zero rows (absent or already ended) → the caller reads the row. */
    cancelRun: `UPDATE ${s}.runs SET status = 'cancelled', error = $3, completed_at = $2, waiting_for = NULL,
        wake_at = NULL, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
        updated_at = $2, revision = revision + 1
      WHERE id = $1 AND status NOT IN ${TERMINAL}
      RETURNING ${runColumns()}`,

    /** deleteRun: checkpoints and signals go with it (ON DELETE CASCADE). */
    deleteRun: `DELETE FROM ${s}.runs WHERE id = $1`,

    /**
     * replaceRun: one statement. The upsert keeps the revision increasing; the DELETE removes
     * checkpoints whose seq is not in the new list and the INSERT … ON CONFLICT writes the others,
     * so the two never touch the same row. The mailbox is kept, as in MemoryStorage.
     * $1..$20 the row, $21 revision, $22 last seq, $23..$25 checkpoints.
     */
    replaceRun: `WITH run AS (
        INSERT INTO ${s}.runs AS cur (${RUN_INSERT_COLUMNS}, revision, last_seq)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                GREATEST($21::bigint, 1), $22)
        ON CONFLICT (id) DO UPDATE SET
          workflow_name = excluded.workflow_name, workflow_version = excluded.workflow_version,
          definition_hash = excluded.definition_hash, definition_key = excluded.definition_key,
          status = excluded.status, queue = excluded.queue, priority = excluded.priority,
          input = excluded.input, cursor = excluded.cursor, waiting_for = excluded.waiting_for,
          wake_at = excluded.wake_at, lease_owner = excluded.lease_owner, lease_token = excluded.lease_token,
          lease_expires_at = excluded.lease_expires_at, error = excluded.error, meta = excluded.meta,
          created_at = excluded.created_at, updated_at = excluded.updated_at,
          completed_at = excluded.completed_at, last_seq = excluded.last_seq,
          revision = GREATEST(excluded.revision, cur.revision + 1)
        RETURNING id
      ), dropped AS (
        DELETE FROM ${s}.checkpoints c WHERE c.run_id = $1 AND c.seq <> ALL($23::int[])
      ), written AS (
        INSERT INTO ${s}.checkpoints (run_id, seq, at, body)
        SELECT run.id, n.seq, n.at, n.body
        FROM run, unnest($23::int[], $24::bigint[], $25::text[]) AS n(seq, at, body)
        ON CONFLICT (run_id, seq) DO UPDATE SET at = excluded.at, body = excluded.body
      )
      SELECT id FROM run`,
  })
}
