/**
 * Regression tests for defects of PostgresStorage (and one liveness gap of the claim contract)
 * found by the multi-process tests in test/crash-postgres.test.ts, each reproduced
 * deterministically here: a writer/renewal deadlock (fixed by locking runs in id order in both),
 * runs stranded by a claim whose answer was lost (a claimer's own lapsed lease is due again), and
 * an unhandled 'error' on a client checked out as its backend died (the listener is attached in
 * pool.connect's callback).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest'
import { StorageError } from '../src/errors.js'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../src/index.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { sampleRun } from '../src/testing/index.js'
import {
  adminPool,
  DATABASE_URL,
  describePg,
  dropSchema,
  endAdminPool,
  uniqueSchema,
} from './helpers/pg-schema.js'

const run = promisify(execFile)
const FRESH_ERROR_CHILD = fileURLToPath(new URL('./helpers/pg-fresh-error-child.ts', import.meta.url))

/**
 * The hand-over defect is Node's: on Bun (where `node` in a child is Bun too) the same bytes do
 * not reach the gap and the child survives, so there is nothing to reproduce.
 */
const onNode = process.versions.bun ? it.skip : it

let schema: string
let s: PostgresStorage

beforeEach(async () => {
  schema = uniqueSchema('finding')
  s = new PostgresStorage({ connectionString: DATABASE_URL, schema, max: 4 })
  await s.init()
})

afterEach(async () => {
  await s.close()
  await dropSchema(schema)
})

afterAll(endAdminPool)

/** Waits until `n` statements on this test's schema wait for a row lock. */
async function lockWaiters(n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await adminPool().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [`"${schema}"`],
    )
    if (rows[0]!.n >= n) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`fewer than ${n} statements on ${schema} wait for a lock`)
}

describePg('PostgresStorage regressions', () => {
  /**
   * `renewLeases` locks the rows it renews in index order; `applyWrites` (the group-commit
   * writer) locks them in the order the writes were queued. When both touch the same runs — one
   * engine renewing the leases of the runs it is checkpointing, every `leaseMs / 3` — they can
   * deadlock: Postgres waits `deadlock_timeout` (1 s), then aborts one. If it aborts the writer,
   * every write of the batch fails with a StorageError and every run in it is stopped, released
   * and its current step re-run; if it aborts the renewal, leases can run out and be taken over.
   * Seen in test/crash-postgres.test.ts (3 workers, leaseMs 2000) dozens of times per run.
   * Here the interleaving is forced with a third session holding r2.
   */
  it('the group-commit writer and lease renewal never deadlock on the same runs', async () => {
    const lease = { owner: 'w', token: 'w/1', expiresAt: 9e12 }
    for (const id of ['r1', 'r2', 'r3']) await s.createRun({ run: sampleRun(id), lease })
    // A table of realistic size, so both statements use their index plans (as in production).
    await adminPool().query(
      `INSERT INTO "${schema}".runs SELECT 'f' || g, workflow_name, workflow_version, definition_hash,
         definition_key, 'completed', queue, priority, input, cursor, NULL, NULL, NULL, NULL, NULL, error,
         meta, created_at, updated_at, completed_at, revision, last_seq
       FROM "${schema}".runs, generate_series(1, 5000) g WHERE id = 'r1'`,
    )
    await adminPool().query(`ANALYZE "${schema}".runs`)
    const holder = await adminPool().connect()
    try {
      await holder.query('BEGIN')
      await holder.query(`SELECT 1 FROM "${schema}".runs WHERE id = 'r2' FOR UPDATE`)
      // The renewal locks r1, then waits for r2.
      const renewal = s.renewLeases({ token: lease.token, ids: ['r1', 'r2', 'r3'], now: 1, expiresAt: 9e12 })
      await lockWaiters(1)
      // One batch of the writer: r3 first, then r1 (held by the renewal).
      const write = (id: string) =>
        s.checkpoint({ id, token: lease.token, now: 2, patch: { cursor: 1 }, body: '{}' })
      const writes = Promise.allSettled([write('r3'), write('r1')])
      await lockWaiters(2)
      await holder.query('COMMIT')
      const started = Date.now()
      const [renewed, settled] = await Promise.all([renewal, writes])
      expect(renewed.sort()).toEqual(['r1', 'r2', 'r3'])
      expect(settled.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).message))).toEqual([
        'ok',
        'ok',
      ])
      expect(Date.now() - started).toBeLessThan(500)
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined)
      holder.release()
    }
  })

  /**
   * Every adapter's `claimDue` skips runs whose lease token is the claimer's own, even when that
   * lease has expired (the SQL has `lease_token IS DISTINCT FROM $token`; Memory and SQLite do
   * the same). So when a claim commits but its answer is lost — the backend dies between the
   * claim and the snapshot read (`loadRuns`), or the network drops the reply — the runs stay
   * leased to a token that will never drive them, and only ANOTHER engine can take them once the
   * lease expires. A lone worker leaves them pending forever (until the process restarts).
   * The same holds for a run whose drive failed on a storage error and whose release failed too
   * (the database unreachable for a moment): it keeps this token's lease, and only another
   * process takes it. Here the lost answer is simulated by a claimDue that claims, then throws.
   */
  it('a lone worker finishes a run whose claim it made but never heard back about', async () => {
    const flow = createWorkflow('finding-claim').step('a', () => undefined)
    let lose = true
    const claimDue = s.claimDue.bind(s)
    s.claimDue = async (params) => {
      const claimed = await claimDue(params)
      if (lose && claimed.length > 0) {
        lose = false
        throw new StorageError(
          'PostgresStorage loadRuns failed: terminating connection due to administrator command',
        )
      }
      return claimed
    }
    const engine = new FluxEngine({
      storage: s,
      logger: new FluxSilentLogger(),
      workflows: [flow],
      recoverOnInit: false,
      leaseMs: 300,
      pollInterval: 50,
    })
    await engine.init()
    const id = await engine.enqueue(flow, {})
    await engine.worker({ concurrency: 5 }).start()
    try {
      // Ten lease periods.
      for (let i = 0; i < 60 && (await s.getRun(id))!.status !== 'completed'; i++)
        await new Promise((r) => setTimeout(r, 50))
      expect((await s.getRun(id))!.status).toBe('completed')
    } finally {
      await engine.close()
    }
  })

  /**
   * `holdClient` (driver.ts) takes a client with the promise form of `pool.connect()` and adds its
   * 'error' listener when the await resumes. pg-pool removes its own listener at checkout, before
   * resolving. If the server's FATAL arrives in the same TCP read as the ReadyForQuery of a new
   * connection (its backend terminated the instant it became ready: pg_terminate_backend, a
   * failover, a restart), pg emits 'error' in that gap, on a client with no listener, and the
   * process dies of an unhandled 'error' event. It killed a worker in the busy-terminate test of
   * crash-postgres.test.ts; the child reproduces it with a proxy. Taking the client with the
   * callback form of `pool.connect` and adding the listener inside the callback closes the gap.
   */
  onNode('a process survives a new connection whose backend dies as soon as it is ready', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', FRESH_ERROR_CHILD, DATABASE_URL, schema],
      {
        timeout: 30_000,
      },
    ).catch((error: { stdout?: string; stderr?: string }) => ({
      stdout: `${error.stdout ?? ''}\n${error.stderr ?? ''}`,
    }))
    expect(stdout).toContain('SURVIVED')
  })
})
