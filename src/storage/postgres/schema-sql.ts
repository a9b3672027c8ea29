/**
 * The Postgres schema of fluxflow, as numbered migrations (applied by migrations.ts under an
 * advisory lock). Only the validated, quoted schema name is interpolated.
 */

export interface Migration {
  version: number
  name: string
  statements: string[]
}

/**
 * The schema, as numbered migrations. Each is idempotent on its own (IF NOT EXISTS) and runs under
 * the migration lock, so a crash between two leaves a state the next run completes.
 */
export function migrations(s: string): Migration[] {
  return [
    {
      version: 1,
      name: 'tables',
      statements: [
        // fillfactor leaves room on each page so checkpoint UPDATEs that touch no indexed column
        // (cursor, lease expiry, revision) stay HOT and do not grow the indexes.
        `CREATE TABLE IF NOT EXISTS ${s}.runs (
          id text COLLATE "C" PRIMARY KEY,
          workflow_name text NOT NULL,
          workflow_version text,
          definition_hash text NOT NULL,
          definition_key text NOT NULL,
          status text NOT NULL,
          queue text NOT NULL,
          priority double precision NOT NULL DEFAULT 0,
          input text NOT NULL,
          cursor integer NOT NULL DEFAULT 0,
          waiting_for text,
          wake_at bigint,
          lease_owner text,
          lease_token text,
          lease_expires_at bigint,
          error text,
          meta text NOT NULL,
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL,
          completed_at bigint,
          revision bigint NOT NULL,
          last_seq integer NOT NULL DEFAULT 0
        ) WITH (fillfactor = 80)`,
        `CREATE TABLE IF NOT EXISTS ${s}.checkpoints (
          run_id text COLLATE "C" NOT NULL REFERENCES ${s}.runs (id) ON DELETE CASCADE,
          seq integer NOT NULL,
          at bigint NOT NULL,
          body text NOT NULL,
          PRIMARY KEY (run_id, seq)
        )`,
        `CREATE TABLE IF NOT EXISTS ${s}.signals (
          run_id text COLLATE "C" NOT NULL REFERENCES ${s}.runs (id) ON DELETE CASCADE,
          name text NOT NULL,
          payload text NOT NULL,
          at bigint NOT NULL,
          position bigint GENERATED ALWAYS AS IDENTITY,
          UNIQUE (run_id, name)
        )`,
      ],
    },
    {
      version: 2,
      name: 'indexes',
      statements: [
        // claimDue: only runs that can still become due are indexed, so finished runs cost nothing.
        `CREATE INDEX IF NOT EXISTS runs_due_idx ON ${s}.runs
          (definition_key, priority DESC, (coalesce(wake_at, created_at)))
          WHERE status IN ('pending', 'running', 'rolling_back', 'suspended')`,
        // listRuns: newest first, alone or filtered by workflow or status.
        `CREATE INDEX IF NOT EXISTS runs_created_idx ON ${s}.runs (created_at DESC, id DESC)`,
        `CREATE INDEX IF NOT EXISTS runs_name_created_idx ON ${s}.runs (workflow_name, created_at DESC, id DESC)`,
        `CREATE INDEX IF NOT EXISTS runs_status_created_idx ON ${s}.runs (status, created_at DESC, id DESC)`,
      ],
    },
    {
      version: 3,
      name: 'queue limits',
      statements: [
        // The live-lease count of a claim with queue limits: only leased runs are in it, about
        // one per slot. The expiry is deliberately not a column: every checkpoint extends it,
        // and an indexed column would make those UPDATEs non-HOT; the few leased rows of a
        // queue are checked on the heap instead. The price: lease_token is now indexed, so the
        // claim's UPDATE (and a release that changes no status) is no longer HOT — one more
        // non-HOT update per claimed run, which its first checkpoint (status → running) pays
        // anyway; about 5% on the claim statement, measured with 11,000 queued runs.
        `CREATE INDEX IF NOT EXISTS runs_leased_idx ON ${s}.runs (queue) WHERE lease_token IS NOT NULL`,
        // The capped queue's own candidates, in claim order, read up to its allowance.
        `CREATE INDEX IF NOT EXISTS runs_queue_due_idx ON ${s}.runs
          (queue, priority DESC, (coalesce(wake_at, created_at)))
          WHERE status IN ('pending', 'running', 'rolling_back', 'suspended')`,
      ],
    },
    {
      version: 4,
      name: 'claims in index order',
      statements: [
        // claimDue reads each definition key's candidates in exactly claim order and stops at its
        // limit. runs_due_idx lacked the tie-breakers (created_at, id) and was read for several
        // keys at once, so every claim read and sorted the whole backlog (14 ms a claim with
        // 5,000 queued runs, growing with the queue). Built before the old one is dropped, so a
        // claim always has one of them.
        `CREATE INDEX IF NOT EXISTS runs_claim_idx ON ${s}.runs
          (definition_key, priority DESC, (coalesce(wake_at, created_at)), created_at, id)
          WHERE status IN ('pending', 'running', 'rolling_back', 'suspended')`,
        `DROP INDEX IF EXISTS ${s}.runs_due_idx`,
      ],
    },
  ]
}
