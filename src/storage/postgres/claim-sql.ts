/**
 * The claim statements of the Postgres adapter: `claimDue`, and the two statements of a claim
 * with queue limits. `s` is the schema, already validated and quoted by `buildStatements`.
 *
 * Parameters shared by both claims: $1 keys, $2 queues|null, $3 now, $4 owner, $5 token,
 * $6 limit, $7 expiresAt, $8 kinds (all four when the caller named none).
 */

/** Order of claims: priority, then oldest due; created_at and id make it total. */
const CLAIM_ORDER = 'r.priority DESC, coalesce(r.wake_at, r.created_at), r.created_at, r.id'

/**
 * `r` is due for this claimer (see `ClaimKind`): one of its keys and queues, a lease it may
 * take (free, expired, or an earlier incarnation's — its own only once expired), and due as one of the
 * kinds it asked for. A suspended run whose signal arrived is of kind `signal` even when its
 * timer is also due, as in MemoryStorage. The status list is word for word that of the index.
 */
const DUE = (s: string) => `r.definition_key = ANY($1::text[])
          AND ($2::text[] IS NULL OR r.queue = ANY($2::text[]))
          AND r.status IN ('pending', 'running', 'rolling_back', 'suspended')
          AND (r.lease_token IS NULL OR r.lease_expires_at <= $3 OR r.lease_owner = $4)
          AND (r.lease_token IS DISTINCT FROM $5 OR r.lease_expires_at <= $3)
          AND CASE r.status
            WHEN 'pending' THEN 'pending' = ANY($8::text[]) AND (r.wake_at IS NULL OR r.wake_at <= $3)
            WHEN 'suspended' THEN CASE
              WHEN r.waiting_for IS NOT NULL AND EXISTS (
                SELECT 1 FROM ${s}.signals g WHERE g.run_id = r.id AND g.name = r.waiting_for)
              THEN 'signal' = ANY($8::text[])
              ELSE 'timer' = ANY($8::text[]) AND r.wake_at <= $3
            END
            ELSE 'orphaned' = ANY($8::text[])
          END`

/**
 * Takes the leases of the runs in `due`. The rows are found with `id = ANY (ARRAY(…))`, a
 * primary-key lookup each: joined with `FROM due` instead, the generic plan of a prepared claim
 * (its limit unknown, so `due` estimated at hundreds of rows) hashed the whole table — finished
 * runs included — to update the few it claimed (2.4 of 3.9 ms of a claim of 50 with 5,000 runs).
 */
const TAKE = (s: string) => `UPDATE ${s}.runs r
      SET lease_owner = $4, lease_token = $5, lease_expires_at = $7, updated_at = $3, revision = r.revision + 1
      WHERE r.id = ANY (ARRAY(SELECT id FROM due))
      RETURNING r.id`

/** The claim statements for schema `s` (quoted). */
export function claimStatements(s: string) {
  return {
    /**
     * claimDue: `FOR UPDATE SKIP LOCKED` in the CTE, so concurrent claimers split the due rows
     * between them instead of queueing on the same ones; a row another claimer committed after
     * our snapshot is re-checked against the lease predicate before it is locked, so it is never
     * taken twice. Snapshots are then read with `loadRuns` (see claimRun for why not here).
     * Each definition key is read by its own subquery from `runs_claim_idx`, whose order is the
     * claim order, so a claim reads its limit's worth of candidates (plus the ones it skips: runs
     * leased to others, waits without a signal, timers not yet due) instead of sorting the
     * backlog; the union of the keys is then ordered and cut at the limit. Rows a subquery locked
     * but the final LIMIT cut stay locked until this statement commits; other claimers skip them
     * meanwhile.
     */
    claimDue: `WITH due AS (
        SELECT d.id FROM unnest($1::text[]) AS k(key) CROSS JOIN LATERAL (
          SELECT r.id, r.priority, coalesce(r.wake_at, r.created_at) AS due_at, r.created_at
          FROM ${s}.runs r
          WHERE r.definition_key = k.key AND ${DUE(s)}
          ORDER BY ${CLAIM_ORDER}
          LIMIT $6
          FOR UPDATE SKIP LOCKED
        ) d
        ORDER BY d.priority DESC, d.due_at, d.created_at, d.id
        LIMIT $6
      )
      ${TAKE(s)}`,

    /**
     * First statement of a claim with queue limits, in its own transaction: one
     * transaction-scoped advisory lock per capped queue ($1 schema, $2 queues), keyed by
     * (schema, queue) and taken in key order, so two claimers capping overlapping sets of
     * queues always lock in the same order and cannot deadlock. A claimer capping `mail` waits
     * here until every other claimer capping `mail` has committed; COMMIT (or the death of the
     * session) releases them. Two queues whose keys collide merely share a lock.
     */
    queueLocks: `SELECT pg_advisory_xact_lock(k.key) FROM (
        SELECT DISTINCT hashtextextended('fluxflow.queue.' || $1::text || '.' || q, 0) AS key
        FROM unnest($2::text[]) AS q
        ORDER BY key
      ) k`,

    /**
     * Second statement: count and claim. Under READ COMMITTED each statement takes a new
     * snapshot when it starts, and this one starts after `queueLocks` returned, so it sees every
     * lease committed by the claimer that held a lock before us: the count below is exact for
     * claimers that pass the same caps, and nobody else can add to it through a capped claim
     * until we commit. (Counting in the locking statement would not do: its snapshot predates
     * the lock.)
     *
     * Why a LATERAL per queue rather than `row_number() OVER (PARTITION BY queue …)` compared
     * with the allowance: a window cannot sit in a query level that has `FOR UPDATE`, so it would
     * have to rank an already locked and LIMITed candidate set, and a backlog in a full queue
     * would fill that set and starve the other queues. Instead each queue of $9 has its own
     * subquery, read from `runs_queue_due_idx` and cut at its allowance: the cap less the live
     * leases for a capped queue (`LIMIT 0` for a full one, which reads nothing), the claim's
     * limit for an uncapped one ($10 null). $9 holds the capped queues, plus — when the claim
     * names its queues ($2) — every named queue, so such a claim reads queue by queue and never
     * walks a capped queue's backlog. Otherwise the uncapped queues come from one more subquery
     * that leaves the capped ones out (it passes their due runs that come first in claim order,
     * as the plain claim passes everything before its limit). The union is ordered and cut at
     * the claim's limit: exactly the runs a walk in claim order would take, skipping queues once
     * they are full.
     *
     * Rows locked by a subquery but cut by the final LIMIT stay locked until our COMMIT, a few
     * milliseconds; other claimers skip them meanwhile, which costs them nothing but those rows.
     * $9 queues read one by one, $10 their caps (null: uncapped).
     */
    claimDueCapped: `WITH cap AS (
        SELECT c.queue, CASE WHEN c.cap IS NULL THEN $6::bigint ELSE greatest(c.cap - (
            SELECT count(*) FROM ${s}.runs l
            WHERE l.queue = c.queue AND l.lease_token IS NOT NULL AND l.lease_expires_at > $3
          ), 0) END AS allow
        FROM unnest($9::text[], $10::bigint[]) AS c(queue, cap)
      ), uncapped AS (
        SELECT r.id, r.priority, coalesce(r.wake_at, r.created_at) AS due_at, r.created_at
        FROM ${s}.runs r
        WHERE $2::text[] IS NULL
          AND ${DUE(s)}
          AND r.queue <> ALL($9::text[])
        ORDER BY ${CLAIM_ORDER}
        LIMIT $6
        FOR UPDATE SKIP LOCKED
      ), capped AS (
        SELECT p.* FROM cap CROSS JOIN LATERAL (
          SELECT r.id, r.priority, coalesce(r.wake_at, r.created_at) AS due_at, r.created_at
          FROM ${s}.runs r
          WHERE ${DUE(s)}
            AND r.queue = cap.queue
          ORDER BY ${CLAIM_ORDER}
          LIMIT least(cap.allow, $6)
          FOR UPDATE SKIP LOCKED
        ) p
      ), due AS (
        SELECT c.id FROM (SELECT * FROM uncapped UNION ALL SELECT * FROM capped) c
        ORDER BY c.priority DESC, c.due_at, c.created_at, c.id
        LIMIT $6
      )
      ${TAKE(s)}`,
  }
}
