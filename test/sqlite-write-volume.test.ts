/**
 * What a run costs SqliteStorage on disk, and the schema that keeps it small: the indexes a run
 * enters and leaves while it is driven (migration 4), the listing plans that read them, the
 * upgrade of a file at schema 3, and the WAL checkpoint interval.
 */
import { statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import type { WorkflowStatus } from '../src/index.js'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../src/index.js'
import { SqliteConnection } from '../src/storage/sqlite/driver.js'
import { migrate } from '../src/storage/sqlite/migrations.js'
import { buildSql, resolveTables } from '../src/storage/sqlite/sql.js'
import { SqliteStorage } from '../src/storage/sqlite/sqlite-storage.js'
import { sampleRun } from '../src/testing/index.js'
import { tempDir } from './helpers/sqlite-temp.js'

const temp = tempDir()
afterAll(() => temp.remove())

const T0 = 1_700_000_000_000
const LEASE = { owner: 'w', token: 'w/1', expiresAt: T0 + 60_000 }

const threeSteps = createWorkflow('volume')
  .input<{ n: number }>()
  .step('a', (ctx) => void (ctx.data.a = ctx.input.n))
  .step('b', (ctx) => void (ctx.data.b = ctx.input.n + 1))
  .step('c', (ctx) => void (ctx.data.c = ctx.input.n + 2))

function indexNames(db: Database.Database): string[] {
  return db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'flux_runs' ORDER BY name`)
    .all()
    .map((r) => (r as { name: string }).name)
}

/** Lists by these statuses, and returns the plan SQLite chose for the listing statement too. */
async function listExplained(storage: SqliteStorage, statuses: WorkflowStatus[]) {
  const db = storage.getDatabase() as unknown as Database.Database
  const prepare = db.prepare.bind(db)
  let plan = ''
  // The store prepares the listing text on first use: explain that text as it is prepared.
  Object.assign(db, {
    prepare: (sql: string) => {
      if (sql.includes('ORDER BY created_at DESC'))
        plan = prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all({ statuses: JSON.stringify(statuses), limit: 10, offset: 0 })
          .map((r) => (r as { detail: string }).detail)
          .join(' | ')
      return prepare(sql)
    },
  })
  try {
    return { ...(await storage.listRuns({ statuses })), plan }
  } finally {
    Object.assign(db, { prepare })
  }
}

describe('SqliteStorage: pages a run writes', () => {
  it('a run from start to completed enters one in-flight index and leaves it, and no status listing', async () => {
    const path = temp.file()
    const db = new Database(path)
    const storage = new SqliteStorage({ database: db as never, walAutocheckpoint: 0 })
    const engine = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    await engine.init()
    for (let n = 0; n < 50; n++) await engine.execute(threeSteps, { n })
    const pageFrames = (db.pragma('page_size', { simple: true }) as number) + 24
    db.pragma('wal_checkpoint(TRUNCATE)')
    const runs = 200
    for (let n = 0; n < runs; n++) await engine.execute(threeSteps, { n })
    const perRun = statSync(`${path}-wal`).size / pageFrames / runs
    // Four commits (create, three steps, the last one with the completion): the create writes the
    // table, the id key, two listing indexes and live_idx; each step the row and its checkpoint
    // (table and key); the completion live_idx again. 15 pages, ~19 with b-tree page splits; the
    // schema before migration 4 wrote ~24 (active and leased indexes apart, running and completed
    // runs in the status listing).
    expect(perRun).toBeLessThan(21)
    expect(perRun).toBeGreaterThan(14)
    await engine.close()
    db.close()
  })

  it('checkpoints the WAL every 8000 pages by default, or at the interval given, and after 4 MB of run data', async () => {
    const byDefault = new SqliteStorage({ path: temp.file() })
    await byDefault.init()
    const handle = byDefault.getDatabase() as unknown as Database.Database
    expect(handle.pragma('wal_autocheckpoint', { simple: true })).toBe(8000)
    await byDefault.close()

    const path = temp.file()
    const small = new SqliteStorage({ path, walAutocheckpoint: 100 })
    const engine = new FluxEngine({ storage: small, logger: new FluxSilentLogger() })
    await engine.init()
    for (let n = 0; n < 200; n++) await engine.execute(threeSteps, { n })
    // A checkpoint lets the log start over: it never holds much more than 100 pages.
    const pages = statSync(`${path}-wal`).size / 4120
    expect(pages).toBeLessThan(130)
    await engine.close()

    // Large step outputs are checkpointed by the data written, not left to pile up to 8000 pages.
    const bigPath = temp.file()
    const big = new SqliteStorage({ path: bigPath })
    const payload = createWorkflow('payload')
      .input<{ n: number }>()
      .step('doc', (ctx) => void (ctx.data.doc = 'x'.repeat(100_000)))
    const bigEngine = new FluxEngine({ storage: big, logger: new FluxSilentLogger() })
    await bigEngine.init()
    for (let n = 0; n < 100; n++) await bigEngine.execute(payload, { n })
    expect(big.dataCheckpoints).toBeGreaterThanOrEqual(2)
    expect(statSync(`${bigPath}-wal`).size / 4120).toBeLessThan(1500)
    await bigEngine.close()
    const manual = new SqliteStorage({ path: temp.file(), walAutocheckpoint: 0 })
    const manualEngine = new FluxEngine({ storage: manual, logger: new FluxSilentLogger() })
    await manualEngine.init()
    for (let n = 0; n < 60; n++) await manualEngine.execute(payload, { n })
    expect(manual.dataCheckpoints).toBe(0)
    await manualEngine.close()

    for (const bad of [-1, 1.5, Number.NaN])
      expect(() => new SqliteStorage({ walAutocheckpoint: bad })).toThrow(/walAutocheckpoint/)
  })
})

describe('SqliteStorage: listing by status reads the index that holds it', () => {
  const cases: [WorkflowStatus[], RegExp][] = [
    [['failed'], /USING (COVERING )?INDEX flux_runs_status_idx/],
    [['suspended', 'cancelled'], /USING (COVERING )?INDEX flux_runs_status_idx/],
    [['running'], /USING INDEX flux_runs_live_idx/],
    [['running', 'rolling_back'], /USING INDEX flux_runs_live_idx/],
    [['completed'], /SCAN flux_runs USING INDEX flux_runs_created_idx/],
    [['failed', 'completed'], /SCAN flux_runs USING INDEX flux_runs_created_idx/],
  ]
  it.each(cases)('%j', async (statuses, expected) => {
    const storage = new SqliteStorage({ path: temp.file() })
    await storage.init()
    // One run in each status, newest first, and a leased pending one (in live_idx, not running).
    const all: WorkflowStatus[] = ['pending', 'running', 'suspended', 'completed', 'failed', 'cancelled']
    for (const [i, status] of all.entries())
      await storage.createRun({ run: sampleRun(`r${i}`, { status, createdAt: T0 + i }) })
    await storage.createRun({
      run: sampleRun('leased', { status: 'pending', createdAt: T0 + 9 }),
      lease: LEASE,
    })
    const { runs, total, plan } = await listExplained(storage, statuses)
    expect(plan).toMatch(expected)
    const wanted = [...all.entries()]
      .filter(([, status]) => statuses.includes(status))
      .map(([i]) => `r${i}`)
      .reverse()
    if (statuses.includes('pending')) wanted.unshift('leased')
    expect(runs.map((r) => r.id)).toEqual(wanted)
    expect(total).toBe(wanted.length)
    await storage.close()
  })
})

describe('SqliteStorage: migration 4 on a file at schema 3', () => {
  it('replaces the in-flight and status indexes; runs in flight are still claimed, listed and counted', async () => {
    const path = temp.file()
    const tables = resolveTables({})
    const old = new Database(path)
    old.pragma('journal_mode = WAL')
    expect(migrate(new SqliteConnection(old), tables, { target: 3, now: T0 })).toEqual([1, 2, 3])
    expect(indexNames(old)).toEqual(
      expect.arrayContaining([
        'flux_runs_active_idx',
        'flux_runs_leased_idx',
        'flux_runs_status_created_idx',
      ]),
    )
    // Rows as a schema-3 store wrote them: an orphan (expired lease), a live lease, a failed run.
    const insert = old.prepare(buildSql(tables).insertRunIfAbsent)
    const row = (id: string, status: string, lease: [string, number] | null, createdAt: number) => ({
      ...Object.fromEntries(Object.entries(sampleRun(id, { status: status as WorkflowStatus, createdAt }))),
      workflowVersion: null,
      leaseOwner: lease ? 'gone' : null,
      leaseToken: lease?.[0] ?? null,
      leaseExpiresAt: lease?.[1] ?? null,
      revision: 1,
      updatedAt: createdAt,
      completedAt: null,
    })
    insert.run(row('orphan', 'running', ['gone/1', T0 - 1], T0))
    insert.run(row('held', 'running', ['alive/1', T0 + 60_000], T0 + 1))
    insert.run(row('broke', 'failed', null, T0 + 2))
    old.close()

    const storage = new SqliteStorage({ path })
    await storage.init()
    const names = indexNames(storage.getDatabase() as unknown as Database.Database)
    expect(names).toEqual(expect.arrayContaining(['flux_runs_live_idx', 'flux_runs_status_idx']))
    for (const gone of ['flux_runs_active_idx', 'flux_runs_leased_idx', 'flux_runs_status_created_idx'])
      expect(names).not.toContain(gone)
    expect((await storage.listRuns({ statuses: ['running'] })).runs.map((r) => r.id)).toEqual([
      'held',
      'orphan',
    ])
    expect((await storage.listRuns({ statuses: ['failed'] })).total).toBe(1)
    // Capped queue: the live lease counts (one slot of two left), the orphan is claimed.
    const claimed = await storage.claimDue({
      lease: LEASE,
      now: T0 + 5,
      definitionKeys: ['wf#h1'],
      limit: 5,
      queueLimits: { default: 2 },
    })
    expect(claimed.map((c) => c.run.id)).toEqual(['orphan'])
    const none = await storage.claimDue({
      lease: { ...LEASE, token: 'w/2' },
      now: T0 + 6,
      definitionKeys: ['wf#h1'],
      limit: 5,
      queueLimits: { default: 2 },
    })
    expect(none).toEqual([])
    await storage.close()
  })
})
