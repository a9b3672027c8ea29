/**
 * PostgresStorage beyond the shared contract: migrations under concurrency (in-process and across
 * processes), SKIP LOCKED claims across instances, pool ownership, reference-counted init/close,
 * schema validation, corrupt rows, and the engine running on it end to end.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import {
  createWorkflow,
  Flux,
  FluxEngine,
  FluxSilentLogger,
  LeaseLostError,
  StorageError,
} from '../src/index.js'
import type { LeaseParams } from '../src/storage/contract.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { buildStatements } from '../src/storage/postgres/sql.js'
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
const CHILD = fileURLToPath(new URL('./helpers/pg-migrate-child.ts', import.meta.url))
const schemas: string[] = []

function storage(options: { schema?: string; max?: number } = {}): PostgresStorage {
  const schema = options.schema ?? uniqueSchema()
  if (!schemas.includes(schema)) schemas.push(schema)
  return new PostgresStorage({ connectionString: DATABASE_URL, schema, max: options.max ?? 4 })
}

async function versions(schema: string): Promise<number[]> {
  const { rows } = await adminPool().query(`SELECT version FROM "${schema}".migrations ORDER BY version`)
  return rows.map((r: { version: number }) => r.version)
}

afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema)
  await endAdminPool()
})

/** Every migration version, in order. */
const ALL_VERSIONS = [1, 2, 3, 4]

describePg('PostgresStorage: migrations', () => {
  it('brings a schema of the previous version up to date, keeping its runs claimable', async () => {
    const schema = uniqueSchema()
    const first = storage({ schema })
    await first.init()
    await first.createRun({ run: sampleRun('old', { status: 'pending' }) })
    await first.close()
    // Back to version 3: the claim index it had, and no record of version 4.
    await adminPool().query(`DROP INDEX "${schema}".runs_claim_idx`)
    await adminPool().query(
      `CREATE INDEX runs_due_idx ON "${schema}".runs (definition_key, priority DESC, (coalesce(wake_at, created_at)))
       WHERE status IN ('pending', 'running', 'rolling_back', 'suspended')`,
    )
    await adminPool().query(`DELETE FROM "${schema}".migrations WHERE version = 4`)
    const second = storage({ schema })
    await second.init()
    expect(second.appliedMigrations).toEqual([4])
    const { rows } = await adminPool().query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname IN ('runs_due_idx', 'runs_claim_idx')`,
      [schema],
    )
    expect(rows.map((r: { indexname: string }) => r.indexname)).toEqual(['runs_claim_idx'])
    const claimed = await second.claimDue({
      lease: { owner: 'w', token: 'w/1', expiresAt: 9e12 },
      now: 9e12 - 1,
      definitionKeys: [sampleRun('x').definitionKey],
      limit: 5,
    })
    expect(claimed.map((c) => c.run.id)).toEqual(['old'])
    await second.close()
  })

  it('migrates once when several storages initialise the same schema at the same moment', async () => {
    const schema = uniqueSchema()
    const stores = [1, 2, 3, 4].map(() => storage({ schema, max: 2 }))
    await Promise.all(stores.map((s) => s.init()))
    expect(await versions(schema)).toEqual(ALL_VERSIONS)
    await Promise.all(stores.map((s) => s.close()))
  })

  it('migrates once when two processes initialise the same schema at the same moment', async () => {
    const schema = uniqueSchema()
    schemas.push(schema)
    const startAt = String(Date.now() + 1_500)
    const children = [1, 2].map(() =>
      run(process.execPath, ['--import', 'tsx', CHILD, DATABASE_URL, schema, startAt], { timeout: 60_000 }),
    )
    const outputs = await Promise.all(children)
    const applied = outputs.map((o) => JSON.parse(o.stdout.trim()) as number[])
    // Exactly one process applied the migrations; the other waited on the lock and found them done.
    expect(applied.flat().sort()).toEqual(ALL_VERSIONS)
    expect(await versions(schema)).toEqual(ALL_VERSIONS)
  })

  it('is idempotent across restarts', async () => {
    const schema = uniqueSchema()
    const first = storage({ schema })
    await first.init()
    await first.createRun({ run: sampleRun('kept') })
    await first.close()
    const second = storage({ schema })
    await second.init()
    expect((await second.getRun('kept'))?.id).toBe('kept')
    expect(await versions(schema)).toEqual(ALL_VERSIONS)
    await second.close()
  })
})

describePg('PostgresStorage: claims across instances', () => {
  it('claims by reading its limit from runs_claim_idx and taking them by key, whatever the backlog', async () => {
    // The generic plan a pool connection keeps for claimDue, on 3,000 queued runs: the candidates
    // come from the claim-ordered index (no sort of the backlog) and the lease is taken by primary
    // key (no scan of the table). Either whole-table path made a claim grow with the table.
    const s = storage()
    await s.init()
    await adminPool().query(
      `INSERT INTO "${s.schema}".runs (id, workflow_name, definition_hash, definition_key, status, queue,
         input, meta, created_at, updated_at, revision)
       SELECT 'q' || g, 'w', 'h', 'k', 'pending', 'default', '{}', '{"steps":[]}', g, g, 1
       FROM generate_series(1, 3000) g`,
    )
    await adminPool().query(`ANALYZE "${s.schema}".runs`)
    const sql = buildStatements(s.schema)
    const client = await adminPool().connect()
    try {
      await client.query('SET plan_cache_mode = force_generic_plan')
      await client.query(
        `PREPARE claim(text[], text[], bigint, text, text, bigint, bigint, text[]) AS ${sql.claimDue}`,
      )
      const { rows } = await client.query(
        `EXPLAIN ANALYZE EXECUTE claim('{k}', NULL, 9000000, 'o', 'o/1', 50, 99999999, '{pending}')`,
      )
      const plan = rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')
      expect(plan).toContain('Index Scan using runs_claim_idx')
      expect(plan).not.toMatch(/Seq Scan on runs|Hash Join/)
      expect(plan).toMatch(/Update on runs r .*rows=50 loops=1/)
    } finally {
      // EXPLAIN ANALYZE claimed for real; the session's prepared statement must not reach the pool.
      client.release(true)
    }
    await s.close()
  })

  it('splits 500 pending runs between two storages with separate pools: all claimed, none twice', async () => {
    const schema = uniqueSchema()
    const a = storage({ schema, max: 4 })
    const b = storage({ schema, max: 4 })
    await Promise.all([a.init(), b.init()])
    for (let i = 0; i < 500; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          a.createRun({ run: sampleRun(`p${i + j}`, { status: 'pending', createdAt: 1_000 + i + j }) }),
        ),
      )
    }
    const claimer = async (s: PostgresStorage, owner: string, lanes: number) => {
      const ids: string[] = []
      await Promise.all(
        Array.from({ length: lanes }, async (_, lane) => {
          // One owner per lane: a lease held by the same owner under another token counts as an
          // earlier incarnation's and may be taken over, by contract.
          const lease: LeaseParams = {
            owner: `${owner}${lane}`,
            token: `${owner}${lane}/1`,
            expiresAt: 10_000_000,
          }
          for (;;) {
            const got = await s.claimDue({ lease, now: 5_000, definitionKeys: ['wf#h1'], limit: 10 })
            if (got.length === 0) return
            for (const snap of got) ids.push(snap.run.id)
          }
        }),
      )
      return ids
    }
    const started = performance.now()
    const [fromA, fromB] = await Promise.all([claimer(a, 'a', 3), claimer(b, 'b', 3)])
    const ms = performance.now() - started
    const all = [...fromA, ...fromB]
    console.info(
      `[pg] claimDue: 500 runs in ${ms.toFixed(0)} ms (${((500 / ms) * 1000).toFixed(0)} claims/s), a=${fromA.length} b=${fromB.length}`,
    )
    expect(new Set(all).size).toBe(all.length)
    expect(all.length).toBe(500)
    expect(fromA.length).toBeGreaterThan(0)
    expect(fromB.length).toBeGreaterThan(0)
    const { rows } = await adminPool().query(
      `SELECT count(*)::int AS n FROM "${schema}".runs WHERE lease_token IS NULL`,
    )
    expect(rows[0].n).toBe(0)
    await Promise.all([a.close(), b.close()])
  })

  it('capped claims from two pools, caps named in any order: no deadlock, no cap exceeded', async () => {
    const schema = uniqueSchema()
    const a = storage({ schema, max: 4 })
    const b = storage({ schema, max: 4 })
    await Promise.all([a.init(), b.init()])
    const queues = ['mail', 'sms', 'push']
    for (const queue of queues)
      for (let i = 0; i < 40; i++)
        await a.createRun({
          run: sampleRun(`${queue}-${i}`, { status: 'pending', queue, createdAt: 1_000 + i }),
        })
    // Six claimers at a time, each naming the three caps in its own order, taking runs and
    // handing some back, so counts move while others are counting.
    const orders = [queues, [...queues].reverse(), ['sms', 'mail', 'push']]
    const caps = { mail: 3, sms: 2, push: 4 }
    const claimers = Array.from({ length: 6 }, (_, n) => async () => {
      const s = n % 2 ? a : b
      const limits = Object.fromEntries(orders[n % 3]!.map((q) => [q, caps[q as keyof typeof caps]]))
      for (let round = 0; round < 8; round++) {
        const token = `c${n}/${round}`
        const got = await s.claimDue({
          lease: { owner: `c${n}-${round}`, token, expiresAt: 10_000_000 },
          now: 5_000,
          definitionKeys: ['wf#h1'],
          limit: 5,
          queueLimits: limits,
        })
        const { rows } = await adminPool().query(
          `SELECT queue, count(*)::int AS n FROM "${schema}".runs
           WHERE lease_token IS NOT NULL AND lease_expires_at > 5000 GROUP BY queue`,
        )
        for (const row of rows as { queue: keyof typeof caps; n: number }[])
          expect(row.n).toBeLessThanOrEqual(caps[row.queue])
        await Promise.all(got.slice(0, 2).map((g) => s.release({ id: g.run.id, token, now: 5_000 })))
      }
    })
    await Promise.all(claimers.map((claim) => claim()))
    await Promise.all([a.close(), b.close()])
  })
})

describePg('PostgresStorage: lifecycle', () => {
  it('never ends a pool it was given, and counts init/close', async () => {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 3 })
    pool.on('error', () => undefined)
    const schema = uniqueSchema()
    schemas.push(schema)
    const s = new PostgresStorage({ pool, schema })
    await s.init()
    await s.init()
    await s.close()
    expect((await s.createRun({ run: sampleRun('r1') })).created).toBe(true)
    await s.close()
    await s.close() // idempotent
    await expect(s.getRun('r1')).rejects.toBeInstanceOf(StorageError)
    expect(pool.ended).toBe(false)
    expect((await pool.query(`SELECT id FROM "${schema}".runs`)).rows).toEqual([{ id: 'r1' }])
    await s.init() // reopens
    expect((await s.getRun('r1'))?.id).toBe('r1')
    await s.close()
    expect(pool.ended).toBe(false)
    await pool.end()
  })

  it('ends the pool it created at the last close, after queued writes', async () => {
    const s = storage()
    await s.init()
    await s.createRun({
      run: sampleRun('r1'),
      lease: { owner: 'w', token: 'w/1', expiresAt: 9e12 },
    })
    const writes = Array.from({ length: 50 }, (_, i) =>
      s.checkpoint({ id: 'r1', token: 'w/1', now: i, patch: { cursor: i }, body: `b${i}` }),
    )
    await s.close()
    await Promise.all(writes)
    const { rows } = await adminPool().query(
      `SELECT count(*)::int AS n FROM "${s.schema}".checkpoints WHERE run_id = 'r1'`,
    )
    expect(rows[0].n).toBe(50)
    await expect(s.checkpoint({ id: 'r1', token: 'w/1', now: 99, patch: {} })).rejects.toBeInstanceOf(
      StorageError,
    )
  })

  it('keeps its prepared statements working when a later migration adds a column', async () => {
    const s = storage()
    await s.init()
    await s.createRun({ run: sampleRun('r1'), lease: { owner: 'w', token: 'w/1', expiresAt: 9e12 } })
    await s.getRun('r1')
    await s.loadRun('r1')
    await adminPool().query(`ALTER TABLE "${s.schema}".runs ADD COLUMN added_later integer`)
    expect((await s.getRun('r1'))?.id).toBe('r1')
    expect((await s.loadRun('r1'))?.run.id).toBe('r1')
    await s.checkpoint({ id: 'r1', token: 'w/1', now: 1, patch: { cursor: 1 }, body: 'b' })
    expect((await s.deliverSignal({ id: 'r1', name: 'go', payload: '[]', now: 2 })).outcome).toBe('queued')
    await s.close()
  })

  it('answers lookups by ids holding U+0000 (which Postgres text cannot hold) as absent', async () => {
    const s = storage()
    await s.init()
    await s.createRun({ run: sampleRun('r1'), lease: { owner: 'w', token: 'w/1', expiresAt: 9e12 } })
    const id = 'r1\0x'
    expect(await s.getRun(id)).toBeNull()
    expect(await s.loadRun(id)).toBeNull()
    expect(await s.claimRun({ id, lease: { owner: 'v', token: 'v/1', expiresAt: 1 }, now: 0 })).toBeNull()
    expect(await s.deliverSignal({ id, name: 'go', payload: '[]', now: 0 })).toEqual({ outcome: 'not-found' })
    expect(await s.cancelRun({ id, now: 0, error: '{}' })).toBeNull()
    expect(await s.deleteRun(id)).toBe(false)
    expect(await s.renewLeases({ token: 'w/1', ids: [id, 'r1'], now: 0, expiresAt: 5 })).toEqual(['r1'])
    expect(await s.listRuns({ idPrefix: 'r\0' })).toEqual({ runs: [], total: 0 })
    await expect(s.checkpoint({ id, token: 'w/1', now: 0, patch: {} })).rejects.toBeInstanceOf(LeaseLostError)
    await expect(s.checkpoint({ id: 'r1', token: 'w\0', now: 0, patch: {} })).rejects.toBeInstanceOf(
      LeaseLostError,
    )
    await s.release({ id, token: 'w/1', now: 0 })
    await s.close()
  })

  it('validates the schema name before any SQL is built', () => {
    for (const bad of ['bad-name', '1abc', 'x"; DROP SCHEMA public; --', '', 'a'.repeat(64), 'sp ace']) {
      expect(() => new PostgresStorage({ connectionString: DATABASE_URL, schema: bad })).toThrow(TypeError)
    }
    expect(new PostgresStorage({ connectionString: DATABASE_URL }).schema).toBe('fluxflow')
    expect(new PostgresStorage({ connectionString: DATABASE_URL, schema: 'Mixed_Case_9' }).schema).toBe(
      'Mixed_Case_9',
    )
    expect(() => new PostgresStorage({ connectionString: DATABASE_URL, max: 0 })).toThrow(TypeError)
  })

  it('reports an unreachable server as a StorageError and can init again later', async () => {
    const s = new PostgresStorage({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      schema: uniqueSchema(),
    })
    await expect(s.init()).rejects.toBeInstanceOf(StorageError)
    await expect(s.getRun('x')).rejects.toBeInstanceOf(StorageError)
    await s.close() // nothing to close: no-op
  })
})

describePg('PostgresStorage: under the engine', () => {
  const flow = createWorkflow('pg-order')
    .input<{ n: number }>()
    .step('a', (ctx) => {
      ctx.data.a = ctx.input.n + 1
    })
    .step('approve', () => Flux.wait('approved'))
    .commit('c', (ctx) => {
      ctx.data.c = new Map([['k', new Date(5)]])
    })

  it('runs, suspends, signals and completes a workflow', async () => {
    const s = storage()
    const engine = new FluxEngine({ storage: s, logger: new FluxSilentLogger(), workflows: [flow] })
    const first = await engine.execute(flow, { n: 1 })
    expect(first.status).toBe('suspended')
    const done = await engine.signal(flow, first.id, 'approved', { by: 'ops' })
    expect(done.status).toBe('completed')
    const state = await engine.get(first.id)
    expect(state?.data).toEqual({ a: 2, c: new Map([['k', new Date(5)]]) })
    expect(state?.history.map((h) => h.status)).toEqual(['completed', 'completed', 'completed'])
    expect((await engine.list({ name: 'pg-order' })).map((r) => r.id)).toEqual([first.id])
    await engine.close()
  })

  it('names the run when a corrupt row cannot be loaded, and still loads the others', async () => {
    const s = storage()
    const engine = new FluxEngine({ storage: s, logger: new FluxSilentLogger(), workflows: [flow] })
    const ids = [] as string[]
    for (const n of [1, 2, 3]) ids.push((await engine.execute(flow, { n }, { id: `run-${n}` })).id)
    const db = adminPool()
    await db.query(`UPDATE "${s.schema}".runs SET meta = '{not json' WHERE id = 'run-1'`)
    await db.query(`UPDATE "${s.schema}".checkpoints SET body = 'garbage]' WHERE run_id = 'run-2'`)
    await expect(engine.get('run-1')).rejects.toThrow(/run-1/)
    await expect(engine.get('run-2')).rejects.toThrow(/run-2/)
    expect((await engine.get('run-3'))?.data).toEqual({ a: 4 })
    await engine.close()
  })
})
