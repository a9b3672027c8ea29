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
 * NOTIFY payload. Postgres refuses payloads of 8000 bytes or more, and ids are unbounded, so a
 * long id is left out: listeners only need to know that something became due.
 */
const PAYLOAD = (kind: string, id: string) =>
  `json_build_object('kind', ${kind}, 'id', CASE WHEN octet_length(${id}) <= 1024 THEN ${id} END)::text`

/**
 * The `listRuns` filter; parameters $1..$5, all nullable. $3 is the id prefix already escaped by
 * `prefixPattern` (rows.ts): backslash is LIKE's default escape character.
 */
const LIST_FILTER = `($1::text IS NULL OR workflow_name = $1::text)
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
  AND ($3::text IS NULL OR id LIKE $3::text)
  AND ($4::bigint IS NULL OR created_at >= $4::bigint)
  AND ($5::bigint IS NULL OR created_at < $5::bigint)`

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
     * createRun. `ON CONFLICT DO NOTHING` never overwrites. When the row already exists this
     * returns nothing, and the caller reads the row with `getRun` in a new statement: a snapshot
     * taken by this statement may predate a concurrent creator's commit, so it cannot read it here.
     */
    insertRun: `WITH inserted AS (
        INSERT INTO ${s}.runs (${RUN_INSERT_COLUMNS}, revision)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 1)
        ON CONFLICT (id) DO NOTHING
        RETURNING id, status, wake_at
      ), ping AS (
        SELECT pg_notify($21, ${PAYLOAD(`CASE WHEN wake_at IS NULL THEN 'run' ELSE 'timer' END`, 'id')})
        FROM inserted WHERE status = 'pending'
      ), cfg AS (
        -- \`sync: false\`: this statement's commit need not wait for the WAL flush (see applyWrites).
        SELECT CASE WHEN $22::bool THEN set_config('synchronous_commit', 'off', true) END AS v
      )
      SELECT inserted.id, (SELECT count(*) FROM ping) AS notified, (SELECT v FROM cfg) AS relaxed
      FROM inserted`,

    /**
     * createRun of a run that is not pending (`execute`/`start` create it already leased by the
     * caller): nothing to notify, so a plain INSERT. The commit mode is set first (\`cfg\` is
     * materialised and feeds the INSERT), as in applyWrites. Same parameters as insertRun, $21
     * unused.
     */
    insertRunQuiet: `WITH cfg AS MATERIALIZED (
        SELECT CASE WHEN $22::bool THEN set_config('synchronous_commit', 'off', true) END AS v
      )
      INSERT INTO ${s}.runs (${RUN_INSERT_COLUMNS}, revision)
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 1
      FROM cfg WHERE $21::text IS NOT NULL
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

    /**
     * The group-commit write of a batch that is ONE segment and no park — what a run executing
     * alone sends after each step. Same effect as `applyWrites` for that case, with scalar
     * parameters instead of arrays, no jsonb patch and no snapshot self-join: 0.34 ms instead of
     * 0.9 ms a statement here, which is most of what a sequential run costs on Postgres.
     * One row, so no lock-order question. `$3` is a bitmask of the patch keys present (a key set
     * to null is not the same as an absent key): 1 status, 2 cursor, 4 waitingFor, 8 wakeAt,
     * 16 error, 32 meta, 64 completedAt.
     *
     * Params: $1 id, $2 token, $3 mask, $4..$10 patch values, $11 bodies' count, $12 release,
     * $13 lease expiry, $14 now, $15 writes, $16 bodies' times, $17 bodies, $18 consumed signals,
     * $19 relaxed commit, $20 channel.
     */
    applyOne: `WITH upd AS (
        UPDATE ${s}.runs r SET
          status = CASE WHEN $3::int & 1 <> 0 THEN $4 ELSE r.status END,
          cursor = CASE WHEN $3::int & 2 <> 0 THEN $5::int ELSE r.cursor END,
          waiting_for = CASE WHEN $3::int & 4 <> 0 THEN $6 ELSE r.waiting_for END,
          wake_at = CASE WHEN $3::int & 8 <> 0 THEN $7::bigint ELSE r.wake_at END,
          error = CASE WHEN $3::int & 16 <> 0 THEN $8 ELSE r.error END,
          meta = CASE WHEN $3::int & 32 <> 0 THEN $9 ELSE r.meta END,
          completed_at = CASE WHEN $3::int & 64 <> 0 THEN $10::bigint ELSE r.completed_at END,
          last_seq = r.last_seq + $11::int,
          lease_owner = CASE WHEN $12::bool THEN NULL ELSE r.lease_owner END,
          lease_token = CASE WHEN $12::bool THEN NULL ELSE r.lease_token END,
          lease_expires_at = CASE WHEN $12::bool THEN NULL ELSE coalesce($13::bigint, r.lease_expires_at) END,
          updated_at = $14::bigint,
          revision = r.revision + $15::int
        WHERE r.id = $1 AND r.lease_token = $2
        RETURNING r.id, r.last_seq, r.status, r.wake_at
      ), ins AS (
        INSERT INTO ${s}.checkpoints (run_id, seq, at, body)
        SELECT u.id, u.last_seq - $11::int + b.ord, b.at, b.body
        FROM upd u, unnest($16::bigint[], $17::text[]) WITH ORDINALITY AS b(at, body, ord)
      ), consumed AS (
        DELETE FROM ${s}.signals g USING upd u WHERE g.run_id = u.id AND g.name = ANY($18::text[])
      ), ping AS (
        SELECT pg_notify($20, ${PAYLOAD(`CASE WHEN u.status = 'suspended' THEN 'timer' ELSE 'run' END`, 'u.id')})
        FROM upd u
        WHERE $12::bool AND (u.status IN ('pending', 'running', 'rolling_back')
          OR (u.status = 'suspended' AND u.wake_at IS NOT NULL))
      ), cfg AS (
        SELECT CASE WHEN $19::bool THEN set_config('synchronous_commit', 'off', true) END AS v
      )
      SELECT u.id, (SELECT count(*) FROM ping) AS notified, (SELECT v FROM cfg) AS relaxed FROM upd u`,

    /**
     * The group-commit write: many fenced checkpoints / parks / releases in ONE statement, so one
     * round trip and one commit (one WAL flush) serve everything that queued up. Each input row is
     * one "segment": consecutive writes of one run with one token, folded by the writer (at most
     * one segment per run per statement, since a statement cannot update a row twice).
     *
     * Fencing: `r.lease_token = w.token`. READ COMMITTED re-evaluates it on the newest row version
     * if the row changed after our snapshot, so a lease taken over or a cancel committed meanwhile
     * makes the row drop out. RETURNING names the segments that matched; every other segment
     * matched zero rows and its writes reject with `LeaseLostError` (releases resolve).
     *
     * Parking (`w.unless_signal`): the mailbox check must see every signal committed before we
     * hold the row lock. A subquery on `signals` uses this statement's snapshot, which can predate
     * a `deliverSignal` that committed while we waited for the row lock. But `deliverSignal` locks
     * and bumps the run row whenever it stores a signal, so we also require the locked row's
     * `revision` to equal the one in our snapshot (`seen`, a second scan of `runs` that
     * EvalPlanQual does not refresh). If they differ, the park matches zero rows and the writer
     * probes in a new statement: signal present → not parked; lease gone → LeaseLostError;
     * neither → retry. A `deliverSignal` that comes after waits for our row lock and then sees
     * the run suspended on its wait ('delivered'). Either order is serialisable.
     *
     * Lock order: the rows are locked first, in id order (`lk`), as `renewLeases` does. Locking
     * them in queue order instead let a batch and a renewal of the same runs deadlock (found by
     * test/postgres-findings.test.ts), and Postgres then aborted one of them after a second.
     *
     * `sync: false` (every write of the batch said so): `set_config(…, true)` sets
     * `synchronous_commit = off` for this statement's own transaction only, so its commit does not
     * wait for the WAL flush — the contract's "applied, fsynced by a later synced write" — in the
     * same single round trip.
     *
     * Params: $1..$9 one entry per segment; $10..$13 bodies; $14..$15 consumed signals;
     * $16 relaxed commit; $17 channel.
     */
    applyWrites: `WITH w AS (
        SELECT w.* FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::bigint[], $5::int[], $6::int[],
                             $7::bool[], $8::bigint[], $9::text[])
          AS w(id, token, patch, now, writes, bodies, release, lease_expires_at, unless_signal)
      ), lk AS (
        SELECT r.id FROM ${s}.runs r WHERE r.id = ANY($1::text[]) ORDER BY r.id FOR UPDATE
      ), cfg AS (
        SELECT CASE WHEN $16::bool THEN set_config('synchronous_commit', 'off', true) END AS v
      ), upd AS (
        UPDATE ${s}.runs r SET
          status = CASE WHEN w.patch ? 'status' THEN w.patch->>'status' ELSE r.status END,
          cursor = CASE WHEN w.patch ? 'cursor' THEN (w.patch->>'cursor')::int ELSE r.cursor END,
          waiting_for = CASE WHEN w.patch ? 'waitingFor' THEN w.patch->>'waitingFor' ELSE r.waiting_for END,
          wake_at = CASE WHEN w.patch ? 'wakeAt' THEN (w.patch->>'wakeAt')::bigint ELSE r.wake_at END,
          error = CASE WHEN w.patch ? 'error' THEN w.patch->>'error' ELSE r.error END,
          meta = CASE WHEN w.patch ? 'meta' THEN w.patch->>'meta' ELSE r.meta END,
          completed_at = CASE WHEN w.patch ? 'completedAt' THEN (w.patch->>'completedAt')::bigint
                         ELSE r.completed_at END,
          last_seq = r.last_seq + w.bodies,
          lease_owner = CASE WHEN w.release THEN NULL ELSE r.lease_owner END,
          lease_token = CASE WHEN w.release THEN NULL ELSE r.lease_token END,
          lease_expires_at = CASE WHEN w.release THEN NULL
                             ELSE coalesce(w.lease_expires_at, r.lease_expires_at) END,
          updated_at = w.now,
          revision = r.revision + w.writes
        FROM w JOIN lk ON lk.id = w.id JOIN ${s}.runs seen ON seen.id = w.id
        WHERE r.id = w.id AND r.lease_token = w.token
          AND (w.unless_signal IS NULL OR (r.revision = seen.revision AND NOT EXISTS (
            SELECT 1 FROM ${s}.signals g WHERE g.run_id = w.id AND g.name = w.unless_signal)))
        RETURNING r.id, r.last_seq, w.bodies, r.status, r.wake_at, w.release
      ), ins AS (
        INSERT INTO ${s}.checkpoints (run_id, seq, at, body)
        SELECT b.run_id, u.last_seq - u.bodies + b.ord, b.at, b.body
        FROM unnest($10::text[], $11::int[], $12::bigint[], $13::text[]) AS b(run_id, ord, at, body)
        JOIN upd u ON u.id = b.run_id
      ), consumed AS (
        DELETE FROM ${s}.signals g
        USING unnest($14::text[], $15::text[]) AS c(run_id, name), upd u
        WHERE u.id = c.run_id AND g.run_id = c.run_id AND g.name = c.name
      ), ping AS (
        SELECT pg_notify($17, ${PAYLOAD(`CASE WHEN u.status = 'suspended' THEN 'timer' ELSE 'run' END`, 'u.id')})
        FROM upd u
        WHERE u.release AND (u.status IN ('pending', 'running', 'rolling_back')
          OR (u.status = 'suspended' AND u.wake_at IS NOT NULL))
      )
      SELECT u.id, (SELECT count(*) FROM ping) AS notified, (SELECT v FROM cfg) AS relaxed FROM upd u`,

    /**
     * Set once on the writer's own connection (never returned to the pool). `applyWrites` takes
     * arrays whose length the planner cannot know in a generic plan, so it would re-plan the
     * statement at every execution (a custom plan is always estimated cheaper than one sized for
     * unknown arrays); planning that CTE costs about twice as much as running it. The generic plan
     * is the one we want anyway: a primary-key lookup per segment.
     */
    writerSession: `SET plan_cache_mode = force_generic_plan`,

    /** After a park matched zero rows: why? (new statement, so it sees everything committed.) */
    parkProbe: `SELECT r.lease_token = $2 AS held,
        (SELECT json_build_object('name', g.name, 'payload', g.payload, 'at', g.at)
         FROM ${s}.signals g WHERE g.run_id = r.id AND g.name = $3) AS signal
      FROM ${s}.runs r WHERE r.id = $1`,

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
