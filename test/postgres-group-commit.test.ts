/**
 * The group-commit writer on a real server: round trips per burst, call order, fencing that
 * rejects only the write it concerns, and parking raced by a concurrent signal delivery.
 */
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest'
import { LeaseLostError, StorageError } from '../src/errors.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { buildStatements } from '../src/storage/postgres/sql.js'
import { batchParams, type Segment } from '../src/storage/postgres/write-batch.js'
import { sampleRun } from '../src/testing/index.js'
import { type CountingPool, countingPool } from './helpers/pg-pool.js'
import {
  adminPool,
  describePg,
  dropSchema,
  endAdminPool,
  uniqueSchema,
  waitForLockWaiter,
} from './helpers/pg-schema.js'

/** The writer's statements: `applyWrites` for a batch, `applyStep`/`applyRelease`/`applyOne` for a lone run's. */
const isWrite = (text: string) => /^WITH (w AS|upd AS|cfg AS MATERIALIZED \(SELECT CASE WHEN \$14)/.test(text)

const A = { owner: 'w', token: 'w/1', expiresAt: 9e12 }
let counting: CountingPool
let s: PostgresStorage

beforeEach(async () => {
  counting = countingPool(4)
  s = new PostgresStorage({ pool: counting.pool, schema: uniqueSchema() })
  await s.init()
})

afterEach(async () => {
  await s.close()
  await dropSchema(s.schema)
  await counting.inner.end()
})

afterAll(endAdminPool)

/** A value as a SQL literal for `EXPLAIN EXECUTE` (which takes no bind parameters). */
function sqlLiteral(value: unknown, quote: (text: string) => string): string {
  if (value === null || value === undefined) return 'NULL'
  if (Array.isArray(value)) {
    const item = (v: unknown) =>
      v === null ? 'NULL' : `"${String(v).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
    return quote(`{${value.map(item).join(',')}}`)
  }
  return quote(String(value))
}

async function bodies(id: string): Promise<string[]> {
  const { rows } = await adminPool().query(
    `SELECT body FROM "${s.schema}".checkpoints WHERE run_id = $1 ORDER BY seq`,
    [id],
  )
  return rows.map((r: { body: string }) => r.body)
}

describePg('PostgresStorage: group commit', () => {
  it('sends 100 concurrent checkpoints of one run in far fewer than 100 round trips, in call order', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    counting.reset()
    const started = performance.now()
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        s.checkpoint({ id: 'r1', token: 'w/1', now: 10 + i, patch: { cursor: i }, body: `b${i}` }),
      ),
    )
    const ms = performance.now() - started
    const statements = counting.texts.filter(isWrite).length
    console.info(
      `[pg] 100 pipelined checkpoints of one run: ${counting.count} round trips, ${ms.toFixed(1)} ms`,
    )
    expect(counting.count).toBeLessThanOrEqual(3)
    expect(statements).toBeGreaterThanOrEqual(1)
    expect(await bodies('r1')).toEqual(Array.from({ length: 100 }, (_, i) => `b${i}`))
    const run = (await s.getRun('r1'))!
    expect([run.cursor, run.updatedAt, run.revision]).toEqual([99, 109, 101])
  })

  it('batches 100 runs checkpointing at once, and what queues during a flush goes in the next one', async () => {
    for (let i = 0; i < 100; i++) await s.createRun({ run: sampleRun(`r${i}`), lease: A })
    await s.checkpoint({ id: 'r0', token: 'w/1', now: 0, patch: {}, body: 'warm' }) // opens the writer
    counting.reset()
    const first = s.checkpoint({ id: 'r0', token: 'w/1', now: 1, patch: { cursor: 1 }, body: 'first' })
    // Let the first flush go out alone, then queue the rest while it is in flight.
    await new Promise((resolve) => setImmediate(resolve))
    const rest = Array.from({ length: 100 }, (_, i) =>
      s.checkpoint({ id: `r${i}`, token: 'w/1', now: 2, patch: { cursor: 2 }, body: `second-${i}` }),
    )
    await Promise.all([first, ...rest])
    console.info(`[pg] 101 checkpoints over 100 runs: ${counting.count} round trips`)
    expect(counting.texts.every(isWrite)).toBe(true)
    expect(counting.count).toBe(2)
    expect(await bodies('r0')).toEqual(['warm', 'first', 'second-0'])
    expect(await bodies('r99')).toEqual(['second-99'])
  })

  it('rejects only the writes whose lease is gone', async () => {
    await s.createRun({ run: sampleRun('mine'), lease: A })
    await s.createRun({ run: sampleRun('theirs'), lease: { ...A, owner: 'x', token: 'x/1' } })
    const results = await Promise.allSettled([
      s.checkpoint({ id: 'mine', token: 'w/1', now: 1, patch: { cursor: 1 }, body: 'm1' }),
      s.checkpoint({ id: 'theirs', token: 'w/1', now: 1, patch: { cursor: 1 }, body: 't1' }),
      s.checkpoint({ id: 'mine', token: 'w/1', now: 2, patch: { status: 'completed' }, release: true }),
      s.checkpoint({ id: 'mine', token: 'w/1', now: 3, patch: { cursor: 3 }, body: 'late' }),
      s.release({ id: 'mine', token: 'w/1', now: 4 }),
      s.checkpoint({ id: 'nobody', token: 'w/1', now: 1, patch: {} }),
    ])
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
    ])
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LeaseLostError)
    expect(await bodies('mine')).toEqual(['m1'])
    expect(await bodies('theirs')).toEqual([])
    const mine = (await s.getRun('mine'))!
    expect([mine.status, mine.cursor, mine.leaseToken]).toEqual(['completed', 1, null])
  })

  it('refuses a write holding a NUL character on its own, without failing its batch', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    await s.createRun({ run: sampleRun('r2'), lease: A })
    const results = await Promise.allSettled([
      s.checkpoint({ id: 'r1', token: 'w/1', now: 1, patch: {}, body: 'fine' }),
      s.checkpoint({ id: 'r2', token: 'w/1', now: 1, patch: {}, body: 'nul \0 here' }),
      s.checkpoint({ id: 'r2', token: 'w/1', now: 1, patch: { meta: '\0' } }),
      // The six characters of a JSON escape are plain text, and stored as such.
      s.checkpoint({ id: 'r2', token: 'w/1', now: 2, patch: {}, body: '["\\u0000"]' }),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StorageError)
    expect(await bodies('r1')).toEqual(['fine'])
    expect(await bodies('r2')).toEqual(['["\\u0000"]'])
  })

  it('writes a lone run’s full-row checkpoints with the lean statements, with the same effect as applyOne', async () => {
    const row = { status: 'running', cursor: 1, waitingFor: null, wakeAt: null, error: null } as const
    // The same writes twice: through the lean statements (all five row fields present) and, with
    // `error` left out so the lean statements do not fit, through applyOne.
    for (const [id, lean] of [
      ['lean', true],
      ['general', false],
    ] as const) {
      await s.createRun({ run: sampleRun(id), lease: A })
      const before = s.writerStats.lean
      const step = lean ? row : { status: 'running' as const, cursor: 1, waitingFor: null, wakeAt: null }
      await s.checkpoint({
        id,
        token: 'w/1',
        now: 5,
        patch: { ...step, meta: '{"steps":[]}' },
        body: 'one',
        leaseExpiresAt: 77,
      })
      let run = (await s.getRun(id))!
      expect([run.status, run.cursor, run.meta, run.leaseExpiresAt, run.updatedAt, run.revision]).toEqual([
        'running',
        1,
        '{"steps":[]}',
        77,
        5,
        2,
      ])
      const done = { ...step, status: 'completed' as const, cursor: 3, completedAt: 9 }
      await Promise.all([
        s.checkpoint({ id, token: 'w/1', now: 8, patch: { ...step, cursor: 2 }, body: 'two', sync: false }),
        s.checkpoint({ id, token: 'w/1', now: 9, patch: done, release: true }),
      ])
      run = (await s.getRun(id))!
      expect([
        run.status,
        run.cursor,
        run.completedAt,
        run.leaseToken,
        run.leaseExpiresAt,
        run.revision,
      ]).toEqual(['completed', 3, 9, null, null, 4])
      expect(run.meta).toBe('{"steps":[]}')
      const { rows } = await adminPool().query(
        `SELECT seq, at, body FROM "${s.schema}".checkpoints WHERE run_id = $1 ORDER BY seq`,
        [id],
      )
      expect(rows).toEqual([
        { seq: 1, at: '5', body: 'one' },
        { seq: 2, at: '8', body: 'two' },
      ])
      expect(s.writerStats.lean - before).toBe(lean ? 2 : 0)
      // Fenced like every write: the lease is gone now.
      await expect(
        s.checkpoint({ id, token: 'w/1', now: 10, patch: row, body: 'late' }),
      ).rejects.toBeInstanceOf(LeaseLostError)
      await expect(
        s.checkpoint({ id, token: 'w/1', now: 10, patch: { ...done, completedAt: 10 }, release: true }),
      ).rejects.toBeInstanceOf(LeaseLostError)
    }
  })

  it('wakes listeners when a lean release hands a run back due', async () => {
    await s.createRun({ run: sampleRun('back'), lease: A })
    const events: unknown[] = []
    const unsubscribe = await s.subscribe((event) => events.push(event))
    try {
      const before = s.writerStats.lean
      await s.checkpoint({
        id: 'back',
        token: 'w/1',
        now: 3,
        patch: {
          status: 'pending',
          cursor: 0,
          waitingFor: null,
          wakeAt: null,
          error: null,
          completedAt: null,
        },
        body: 'handed back',
        release: true,
      })
      expect(s.writerStats.lean - before).toBe(1)
      await expect.poll(() => events.length).toBeGreaterThan(0)
      expect(events[0]).toMatchObject({ kind: 'run', id: 'back' })
    } finally {
      await unsubscribe()
    }
  })

  it('creates the runs started together in one statement; of two with one id, the first is created', async () => {
    await s.checkpoint({ id: 'none', token: 'w/1', now: 0, patch: {} }).catch(() => undefined) // opens the writer
    counting.reset()
    const before = s.writerStats.createStatements
    const results = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => s.createRun({ run: sampleRun(`c${i}`), lease: A })),
      s.createRun({ run: sampleRun('twin', { input: '"first"' }), lease: A }),
      s.createRun({ run: sampleRun('twin', { input: '"second"' }), lease: A }),
      s.createRun({ run: sampleRun('queued', { status: 'pending' }) }),
    ])
    expect(s.writerStats.createStatements - before).toBe(1)
    expect(counting.texts.filter((x) => x.includes('INSERT INTO') || x.startsWith('WITH cfg')).length).toBe(1)
    expect(results.map((r) => r.created)).toEqual([...Array(51).fill(true), false, true])
    // The loser reads the winner's row.
    expect([results[50]!.run.input, results[51]!.run.input]).toEqual(['"first"', '"first"'])
    expect((await s.getRun('c49'))!.leaseToken).toBe('w/1')
    expect((await s.getRun('queued'))!.status).toBe('pending')
    // A create whose row cannot be stored fails alone.
    const mixed = await Promise.allSettled([
      s.createRun({ run: sampleRun('fine'), lease: A }),
      s.createRun({ run: sampleRun('bad', { input: '"nul \0"' }), lease: A }),
    ])
    expect(mixed.map((r) => r.status)).toEqual(['fulfilled', 'rejected'])
    expect((mixed[1] as PromiseRejectedResult).reason).toBeInstanceOf(StorageError)
    expect(String((mixed[1] as PromiseRejectedResult).reason)).toContain('input')
    expect(await s.getRun('bad')).toBeNull()
  })

  it('plans its batch by key even on a fresh, tiny table (a cached plan outlives the table’s size)', async () => {
    // The writer prepares applyWrites once, with a generic plan made from the statistics of that
    // moment. On a new schema a whole-table scan is the cheapest plan and would be kept as the
    // table grows; the writer's session settings rule it out. Checked on the statement as the
    // writer's connection prepares it, while `runs` holds a single row.
    await s.createRun({ run: sampleRun('only'), lease: A })
    const sql = buildStatements(s.schema)
    const client = await adminPool().connect()
    try {
      await client.query(sql.writerSession)
      const types =
        'text[],text[],jsonb[],bigint[],int[],int[],bool[],bigint[],text[],text[],int[],bigint[],text[],text[],text[],bool,text'
      await client.query(`PREPARE batch(${types}) AS ${sql.applyWrites}`)
      const segment = (id: string): Segment => ({
        id,
        token: 'w/1',
        jobs: [],
        patch: { cursor: 1 },
        now: 1,
        bodies: [{ body: 'b', at: 1 }],
        consumes: [],
        release: false,
        leaseExpiresAt: null,
        unlessSignal: null,
        sync: false,
      })
      const args = [...batchParams([segment('only'), segment('other')]), s.schema]
        .map((value) => sqlLiteral(value, (text) => client.escapeLiteral(text)))
        .join(', ')
      const { rows } = await client.query(`EXPLAIN EXECUTE batch(${args})`)
      const plan = rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')
      expect(plan).toContain('Index Scan using runs_pkey on runs')
      expect(plan).not.toMatch(/Seq Scan on runs|Bitmap Heap Scan on runs|Hash Join|Merge Join/)
    } finally {
      // Its session settings must not go back to the pool.
      client.release(true)
    }
  })

  it('settles a run’s promises in call order', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    const order: number[] = []
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        s.checkpoint({ id: 'r1', token: 'w/1', now: i, patch: {}, body: `${i}` }).then(() => order.push(i)),
      ),
    )
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i))
  })

  it('does not park when a signal is delivered while the park waits for the row lock', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    // A delivery in flight: it holds the run row and has stored the signal, not yet committed.
    const delivery = await adminPool().connect()
    try {
      await delivery.query('BEGIN')
      await delivery.query(
        `INSERT INTO "${s.schema}".signals (run_id, name, payload, at) VALUES ('r1', 'go', '[7]', 5)`,
      )
      await delivery.query(`UPDATE "${s.schema}".runs SET revision = revision + 1 WHERE id = 'r1'`)
      const park = s.park({
        id: 'r1',
        token: 'w/1',
        now: 6,
        patch: { status: 'suspended', waitingFor: 'go' },
        body: 'parked',
        unlessSignal: 'go',
        release: true,
      })
      await waitForLockWaiter(s.schema)
      await delivery.query('COMMIT')
      expect(await park).toEqual({ parked: false, signal: { name: 'go', payload: '[7]', at: 5 } })
    } finally {
      delivery.release()
    }
    const run = (await s.getRun('r1'))!
    expect([run.status, run.waitingFor, run.leaseToken]).toEqual(['running', null, 'w/1'])
    expect(await bodies('r1')).toEqual([])
  })

  it('parks when nothing is in the mailbox, and a later delivery then finds the wait', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    const parked = await s.park({
      id: 'r1',
      token: 'w/1',
      now: 6,
      patch: { status: 'suspended', waitingFor: 'go', wakeAt: 99 },
      body: 'parked',
      unlessSignal: 'go',
      release: true,
    })
    expect(parked).toEqual({ parked: true })
    expect((await s.deliverSignal({ id: 'r1', name: 'go', payload: '[1]', now: 7 })).outcome).toBe(
      'delivered',
    )
  })
})
