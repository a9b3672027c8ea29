/**
 * Crash semantics and scale-out on a real Postgres server, with real processes:
 * - the crash points and random-kill loop of the SQLite suite (test/helpers/crash-suite.ts);
 * - three worker processes sharing 2,000 runs, one of them killed with SIGKILL midway;
 * - backends of a worker terminated with `pg_terminate_backend`, idle and under load.
 * Every child runs against dist/ and appends to a side-effect log before each handler does
 * anything, so the parent counts what really ran, in which process, and when.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { type Child, count, type Effect, PG_CHILD } from './helpers/crash.js'
import {
  type CrashTarget,
  completions,
  crashSuite,
  crashWorkspace,
  effectsByRun,
  expectMixedRunsIntact,
  type InspectedStore,
} from './helpers/crash-suite.js'
import {
  adminPool,
  DATABASE_URL,
  describePg,
  dropSchema,
  endAdminPool,
  uniqueSchema,
} from './helpers/pg-schema.js'

const schemas: string[] = []
const stores: PostgresStorage[] = []

afterAll(async () => {
  for (const store of stores) await store.close()
  for (const schema of schemas) await dropSchema(schema)
  await endAdminPool()
})

const target: CrashTarget = {
  name: 'Postgres',
  describe: describePg,
  script: PG_CHILD,
  // A child's start (node, pg, the migration check) takes longer against a server than on a file.
  commitLeaseMs: 3000,
  async fresh() {
    const schema = uniqueSchema('crash')
    schemas.push(schema)
    return {
      at: { url: DATABASE_URL, schema },
      async open() {
        const store = new PostgresStorage({ connectionString: DATABASE_URL, schema, max: 3 })
        await store.init()
        stores.push(store)
        return store
      },
    }
  },
}

crashSuite(target)

/** Polls until `done()` holds; fails after `timeoutMs`. */
async function until(what: string, done: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function completedRuns(store: InspectedStore, workflowName: string): Promise<number> {
  return (await store.listRuns({ workflowName, statuses: ['completed'], limit: 0 })).total
}

/**
 * Terminates backends whose application_name is `appName`; returns their pids.
 * - `all`: every one connected for at least 500 ms;
 * - `busy-writer`: the group-commit writer's while it runs a write (the statements of
 *   apply-sql.ts, the only ones with an `upd` CTE);
 * - `listener`: the LISTEN connection.
 *
 * Both spare connections that may still be in pg-pool's hand-over, clear of a defect reproduced
 * in test/postgres-findings.test.ts: a client that pg-pool hands to the writer or the listener in
 * the same socket read as its backend's FATAL (a fresh connection, or a pool connection that just
 * answered a query) crashes the process. `all` spares fresh connections by their age; `busy-writer`
 * touches only connections that have run our statements and never go back to the pool.
 */
async function terminateBackends(
  appName: string,
  which: 'all' | 'busy-writer' | 'listener',
): Promise<number[]> {
  const { rows } = await adminPool().query<{ pid: number; ok: boolean }>(
    `SELECT pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity
     WHERE application_name = $1 AND CASE $2::text
       WHEN 'all' THEN backend_start <= now() - interval '500 milliseconds'
       WHEN 'busy-writer' THEN state = 'active' AND query LIKE '%upd AS (%'
       ELSE query LIKE 'LISTEN %'
     END`,
    [appName, which],
  )
  return rows.filter((r) => r.ok).map((r) => r.pid)
}

async function backends(appName: string): Promise<{ pid: number; query: string }[]> {
  const { rows } = await adminPool().query<{ pid: number; query: string }>(
    `SELECT pid, query FROM pg_stat_activity WHERE application_name = $1`,
    [appName],
  )
  return rows
}

/**
 * The most drives a process had in flight at once, as the log shows them. A drive starts at its
 * `@drive` marker (children started with `drives: true`) and is taken to end at its last effect
 * before the run's next marker in that process, or at a `nap` that put the run to sleep (the
 * run is parked and the worker's slot freed). Each span lies inside the real drive, so the
 * count can only under-estimate what was in flight: a count above the limit is a real violation.
 */
function maxInFlight(effects: Effect[], pid: number): number {
  const spans: [number, number][] = []
  for (const list of effectsByRun(effects.filter((e) => e.pid === pid)).values()) {
    let start: number | undefined
    let end = 0
    const close = () => {
      if (start !== undefined) spans.push([start, end])
      start = undefined
    }
    for (const e of list) {
      if (e.step === '@drive') close()
      start ??= e.t
      end = e.t
      if (e.step === 'nap' && e.slept) close()
    }
    close()
  }
  // Ends before starts at the same millisecond: spans that only touch do not overlap.
  const points = spans.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ])
  points.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!)
  let now = 0
  let max = 0
  for (const [, delta] of points) {
    now += delta!
    max = Math.max(max, now)
  }
  return max
}

describePg('3 worker processes share 2,000 runs on Postgres', () => {
  const RUNS = 2000
  const CONCURRENCY = 20
  const LEASE_MS = 2000

  it('every run completes exactly once, each process stays within its concurrency, and a killed worker’s runs are taken over after its lease', async () => {
    const w = await crashWorkspace(target, 'fleet')
    expect(
      await w.run({ workerId: 'enqueuer', action: 'enqueue', flow: 'mixed', count: RUNS }, 60_000),
    ).toEqual({ enqueued: RUNS })
    const workers: Child[] = [1, 2, 3].map((i) =>
      w.start({
        workerId: `fleet-${i}`,
        leaseMs: LEASE_MS,
        action: 'worker',
        flow: 'mixed',
        count: RUNS,
        enqueue: false,
        concurrency: CONCURRENCY,
        drives: true,
      }),
    )
    await Promise.all(workers.map((c) => c.waitFor('READY worker')))
    const store = await w.open()
    await until(
      'a quarter of the runs completed',
      async () => (await completedRuns(store, 'crash-mixed')) >= RUNS / 4,
    )
    const [victim, ...survivors] = workers as [Child, Child, Child]
    // Frozen first, so what it leased can be read before it dies: nothing it sent is still on
    // its way to the server once the statements in flight have had time to finish.
    victim.proc.kill('SIGSTOP')
    const stoppedAt = Date.now()
    await new Promise((r) => setTimeout(r, 200))
    const { rows: orphans } = await adminPool().query<{ id: string; expires: string }>(
      `SELECT id, lease_expires_at AS expires FROM "${w.at.schema}".runs
       WHERE lease_owner = 'fleet-1' AND lease_token IS NOT NULL`,
    )
    await victim.kill()
    for (const survivor of survivors) await survivor.waitFor('DONE', 120_000)
    await Promise.all(survivors.map((c) => c.exited))

    const effects = w.effects()
    await expectMixedRunsIntact(store, effects, RUNS)

    // Each process stayed within its limit, and the limit was reached (the check has teeth).
    for (const child of workers)
      expect(maxInFlight(effects, child.proc.pid!)).toBeLessThanOrEqual(CONCURRENCY)
    for (const child of survivors)
      expect(maxInFlight(effects, child.proc.pid!)).toBeGreaterThanOrEqual(CONCURRENCY / 2)
    // Every process did a share of the work.
    const pids = new Set(effects.map((e) => e.pid))
    for (const child of workers) expect(pids.has(child.proc.pid!)).toBe(true)

    // The runs the victim held when it died: the others continued each of them, and not one
    // before the lease the victim had written ran out (the claim and then the drive's start
    // are both later than that expiry, on the same clock).
    expect(orphans.length).toBeGreaterThan(0)
    const byRun = effectsByRun(effects)
    const victimPid = victim.proc.pid!
    for (const { id, expires } of orphans) {
      const list = byRun.get(id) ?? []
      const from = list.filter((e) => e.pid === victimPid).at(-1)?.t ?? stoppedAt
      const takeover = list.find((e) => e.pid !== victimPid && e.t >= from)
      expect(takeover, id).toBeTruthy()
      expect(takeover!.step, id).toBe('@drive')
      expect(takeover!.t, id).toBeGreaterThanOrEqual(Number(expires))
      expect(takeover!.t - Number(expires), id).toBeLessThan(5_000)
    }
  }, 180_000)
})

describePg('terminated backends (pg_terminate_backend) on Postgres', () => {
  it('a worker whose every backend is terminated while a run is mid-step reconnects, and the run finishes in the same drive', async () => {
    const w = await crashWorkspace(target, 'terminate-idle')
    const store = await w.open()
    const gate = join(w.dir, 'gate')
    const appName = `${w.at.schema}_w1`
    await w.run({ workerId: 'enqueuer', action: 'enqueue', flow: 'gated', count: 1 })
    const worker = w.start({
      workerId: 'term-1',
      action: 'worker',
      flow: 'gated',
      count: 2,
      enqueue: false,
      gate,
      appName,
      verbose: true,
      // Only a NOTIFY on a re-established LISTEN connection wakes this worker for the second run.
      pollInterval: 60_000,
    })
    await worker.waitFor('READY gate')
    // Old enough for terminateBackends (it spares connections younger than 500 ms).
    await new Promise((r) => setTimeout(r, 600))
    const before = await backends(appName)
    expect(before.some((b) => b.query.startsWith('LISTEN'))).toBe(true)
    const killed = await terminateBackends(appName, 'all')
    // At least the writer (it wrote s1's checkpoint) and the LISTEN connection.
    expect(killed.length).toBeGreaterThanOrEqual(2)
    await until('the terminated backends are gone', async () =>
      (await backends(appName)).every((b) => !killed.includes(b.pid)),
    )
    writeFileSync(gate, '')
    await until('run-0 completed', async () => (await store.getRun('run-0'))?.status === 'completed')
    expect(await w.run({ workerId: 'enqueuer', action: 'enqueue', flow: 'gated', count: 2 })).toEqual({
      enqueued: 2,
    })
    await worker.waitFor('DONE', 20_000)
    await worker.exited

    const output = worker.output()
    expect(output).toMatch(/LOG warn PostgresStorage: LISTEN connection lost/)
    const e = w.effects()
    // On Node, a pooled connection whose backend was terminated while idle is noticed at once
    // (its FATAL is read while idle) and replaced before the next write: no drive stops, and the
    // run goes on in the drive that was mid-step. Bun reads that FATAL only when the next write is
    // sent on the connection: the write fails, its drive stops, and the worker takes the run over
    // and finishes it — the interrupted step runs again, no completed step does.
    const strict = !process.versions.bun
    if (strict) expect(output).not.toMatch(/LOG error/)
    for (const id of ['run-0', 'run-1']) {
      if (strict) {
        expect(
          ['s1', 's2', 'c1', 's3'].map((step) => count(e, id, step).length),
          id,
        ).toEqual([1, 1, 1, 1])
      }
      expect(new Set(e.filter((x) => x.run === id).map((x) => x.pid))).toEqual(new Set([worker.proc.pid]))
      expect([...(await completions(store, id)).values()], id).toEqual([1, 1, 1, 1])
      expect((await store.getRun(id))!.status, id).toBe('completed')
    }
  }, 60_000)

  it('terminating a busy worker’s writer and LISTEN backends again and again fails only what was in flight; every run still completes exactly once', async () => {
    const RUNS = 1200
    const w = await crashWorkspace(target, 'terminate-busy')
    const store = await w.open()
    const appName = `${w.at.schema}_w1`
    expect(
      await w.run({ workerId: 'enqueuer', action: 'enqueue', flow: 'mixed', count: RUNS }, 60_000),
    ).toEqual({ enqueued: RUNS })
    const options = {
      leaseMs: 2000,
      action: 'worker',
      flow: 'mixed',
      count: RUNS,
      enqueue: false,
      concurrency: 20,
      verbose: true,
    }
    // The second worker is there for runs whose release failed too (the writer was terminated
    // again before it could hand them back): only another owner can take those, once their lease
    // has run out (see the claim finding in test/postgres-findings.test.ts).
    const target1 = w.start({ ...options, workerId: 'busy-1', appName })
    const other = w.start({ ...options, workerId: 'busy-2' })
    await Promise.all([target1.waitFor('READY worker'), other.waitFor('READY worker')])
    const stoppedDrives = () => (target1.output().match(/LOG error workflow .* stopped by/g) ?? []).length
    let rounds = 0
    let lastTermination = 0
    while (rounds < 30 && (stoppedDrives() === 0 || rounds < 3)) {
      // Until a termination has stopped a drive, keep trying while there is work left to hit
      // (a statement is in flight ~1 ms at a time: some rounds miss it).
      if ((await completedRuns(store, 'crash-mixed')) > RUNS * (stoppedDrives() > 0 ? 0.7 : 0.95)) break
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 150))
      await terminateBackends(appName, 'listener')
      // A write statement is in flight for about a millisecond at a time: look for one closely.
      for (let look = 0; look < 200; look++) {
        if ((await terminateBackends(appName, 'busy-writer')).length > 0) {
          lastTermination = Date.now()
          rounds++
          break
        }
      }
    }
    for (const child of [target1, other]) await child.waitFor('DONE', 120_000)
    await Promise.all([target1.exited, other.exited])

    // The terminations hit statements in flight, and drives were stopped by them...
    expect(rounds).toBeGreaterThanOrEqual(3)
    expect(stoppedDrives()).toBeGreaterThan(0)
    // ...yet the worker reconnected and kept working afterwards...
    const effects = w.effects()
    expect(effects.some((e) => e.pid === target1.proc.pid && e.t > lastTermination)).toBe(true)
    // ...and nothing recorded ran again.
    await expectMixedRunsIntact(store, effects, RUNS)
  }, 180_000)
})
