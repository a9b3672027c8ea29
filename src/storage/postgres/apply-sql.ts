/**
 * The group-commit write statements of the Postgres adapter (used by writer.ts): the lean
 * single-run checkpoints `applyStep` and `applyRelease`, the general single-run `applyOne`, the
 * batch `applyWrites`, and `parkProbe`. `s` is the schema, already validated and quoted by
 * `buildStatements`.
 *
 * Why four statements for one verb: a run executing alone sends one statement per step, and on
 * a sequential run that round trip IS the cost. Each statement below is the cheapest that is
 * still correct for the shape of write it serves; `pickStatement` (write-batch.ts) chooses.
 * Measured here (one connection, statements interleaved so machine noise hits all alike, ms per
 * statement, `synchronous_commit` off): a bare INSERT 0.27, `applyStep` 0.35, the same UPDATE +
 * INSERT shaped as `applyOne` 0.39, `applyOne` 0.49.
 */

/**
 * NOTIFY payload. Postgres refuses payloads of 8000 bytes or more, and ids are unbounded, so a
 * long id is left out: listeners only need to know that something became due.
 */
export const PAYLOAD = (kind: string, id: string) =>
  `json_build_object('kind', ${kind}, 'id', CASE WHEN octet_length(${id}) <= 1024 THEN ${id} END)::text`

/** `synchronous_commit = off` for this statement's own transaction when `flag` is true (see applyWrites). */
export const RELAXED = (flag: string) =>
  `cfg AS MATERIALIZED (SELECT CASE WHEN ${flag}::bool THEN set_config('synchronous_commit', 'off', true) END AS v)`

/** The run-row columns every engine checkpoint sets ($3..$8 of the lean statements). */
const LEAN_SET = `status = $3, cursor = $4::int, waiting_for = $5, wake_at = $6::bigint, error = $7,
          meta = coalesce($8, r.meta)`

/** The write statements for schema `s`. */
export function writeStatements(s: string) {
  return {
    /**
     * The checkpoint a plain step sends when its run is the only one in the batch: one body, no
     * lease release, no consumed signal, and the five row fields the engine always sends
     * (status, cursor, waitingFor, wakeAt, error; meta optional, null = unchanged). The INSERT is
     * the statement itself and reads the UPDATE's row, so a lost lease inserts and returns
     * nothing. `cfg` is joined so the commit mode is set whenever anything was written.
     *
     * Params: $1 id, $2 token, $3..$8 row fields, $9 lease expiry, $10 now, $11 writes folded in,
     * $12 body, $13 its time, $14 relaxed commit.
     */
    applyStep: `WITH ${RELAXED('$14')}, upd AS (
        UPDATE ${s}.runs r SET ${LEAN_SET},
          last_seq = r.last_seq + 1,
          lease_expires_at = coalesce($9::bigint, r.lease_expires_at),
          updated_at = $10::bigint,
          revision = r.revision + $11::int
        WHERE r.id = $1 AND r.lease_token = $2
        RETURNING r.id, r.last_seq
      )
      INSERT INTO ${s}.checkpoints (run_id, seq, at, body)
      SELECT u.id, u.last_seq, $13::bigint, $12 FROM upd u, cfg
      RETURNING run_id AS id`,

    /**
     * The write that hands a run back (completion, failure, a sleep or a wait parked without a
     * mailbox check): at most one body, no consumed signal, the lease dropped, and a NOTIFY when
     * the run is due again for someone else (as applyOne).
     *
     * Params: $1..$8 as applyStep, $9 completedAt, $10 now, $11 writes, $12 body or null,
     * $13 its time, $14 relaxed commit, $15 channel.
     */
    applyRelease: `WITH ${RELAXED('$14')}, upd AS (
        UPDATE ${s}.runs r SET ${LEAN_SET},
          completed_at = $9::bigint,
          last_seq = r.last_seq + (CASE WHEN $12::text IS NULL THEN 0 ELSE 1 END),
          lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
          updated_at = $10::bigint,
          revision = r.revision + $11::int
        WHERE r.id = $1 AND r.lease_token = $2
        RETURNING r.id, r.last_seq, r.status, r.wake_at
      ), ins AS (
        INSERT INTO ${s}.checkpoints (run_id, seq, at, body)
        SELECT u.id, u.last_seq, $13::bigint, $12 FROM upd u WHERE $12::text IS NOT NULL
      ), ping AS (
        SELECT pg_notify($15, ${PAYLOAD(`CASE WHEN u.status = 'suspended' THEN 'timer' ELSE 'run' END`, 'u.id')})
        FROM upd u
        WHERE u.status IN ('pending', 'running', 'rolling_back') OR (u.status = 'suspended' AND u.wake_at IS NOT NULL)
      )
      SELECT u.id, (SELECT count(*) FROM ping) AS notified, (SELECT v FROM cfg) AS relaxed FROM upd u`,

    /**
     * The group-commit write of a batch that is ONE segment and no park — what a run executing
     * alone sends after each step. Same effect as `applyWrites` for that case, with scalar
     * parameters instead of arrays, no jsonb patch and no snapshot self-join: 0.49 ms instead of
     * 0.9 ms a statement here. Used when neither lean statement above fits (consumed signals,
     * several bodies, a partial patch).
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
     * `lk` is read whole by an uncorrelated `count(*)`, an InitPlan evaluated once before the first
     * row is updated; joining it to `w` instead made a nested loop over both (64² comparisons
     * for a batch of 64, most of the statement's time).
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
      ), lk AS MATERIALIZED (
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
        FROM w JOIN ${s}.runs seen ON seen.id = w.id
        WHERE (SELECT count(*) FROM lk) >= 0 AND r.id = w.id AND r.lease_token = w.token
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
     * is the one we want anyway: a primary-key lookup per segment — but a generic plan is made
     * once, from the table statistics of that moment, and kept. Made while `runs` was small (a
     * fresh schema, a quiet hour), it scanned the whole table (sequentially, or a partial index
     * with a hash join) for every batch, and kept doing so as the table grew: a writer backend
     * spent 3.3 s of CPU on 5,000 runs instead of 1.5 s (found by the concurrent benchmark). Every
     * join of a write is a lookup by key of a few hundred rows at most, so on this connection
     * the planner may use nothing else: no sequential, bitmap, hash or merge access.
     */
    writerSession: `SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off;
      SET enable_bitmapscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off`,

    /** After a park matched zero rows: why? (new statement, so it sees everything committed.) */
    parkProbe: `SELECT r.lease_token = $2 AS held,
        (SELECT json_build_object('name', g.name, 'payload', g.payload, 'at', g.at)
         FROM ${s}.signals g WHERE g.run_id = r.id AND g.name = $3) AS signal
      FROM ${s}.runs r WHERE r.id = $1`,
  }
}
