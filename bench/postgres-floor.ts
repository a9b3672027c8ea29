/**
 * The Postgres floor: what a workflow costs when each step is nothing but one durable write.
 *
 * Each step is one autocommit INSERT of its row (`synchronous_commit = on`, so every step waits for
 * its WAL flush, as a checkpoint must), awaited before the next; a "workflow" is three such steps
 * (or five ~100 KB JSON documents). No engine, no leases, no reads: a lower bound on latency and
 * an upper bound on throughput that `PostgresStorage` is compared against. Rows are stored as
 * `text`, like the adapter's bodies.
 *
 * Every floor creates its own schema and drops it when it ends (an opened one, on `close()`).
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { type Contender, JIT_WARM_RUNS, type Measurement, measure } from './harness.js'

/** Where and how much to measure. */
export interface PostgresFloorOptions {
  /** Default `DATABASE_URL`, else the local test server. */
  connectionString?: string
  /** Workflows to time (after a warm-up of a tenth as many; JIT_WARM_RUNS for small rows on one connection). */
  workflows?: number
}

const SMALL_ROW = '{"ok":true,"n":1}'

function url(options: PostgresFloorOptions): string {
  return options.connectionString ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
}

/** A ~100 KB JSON document (the shape of a large `ctx.data`). */
export function largeDocument(bytes = 100 * 1024): string {
  const items: { id: number; name: string; tags: string[]; score: number }[] = []
  let size = 2
  for (let i = 0; size < bytes; i++) {
    const item = {
      id: i,
      name: `item-${i}-${'x'.repeat(24)}`,
      tags: ['alpha', 'beta', `t${i % 7}`],
      score: i / 3,
    }
    size += JSON.stringify(item).length + 1
    items.push(item)
  }
  return JSON.stringify({ items })
}

async function openSchema(
  options: PostgresFloorOptions,
  connections: number,
): Promise<{ pool: pg.Pool; table: string; close(): Promise<void> }> {
  const schema = `bench_floor_${randomBytes(5).toString('hex')}`
  const pool = new pg.Pool({
    connectionString: url(options),
    max: connections,
    // Durable commits, whatever the server default: the floor must pay for its WAL flush.
    options: '-c synchronous_commit=on',
  })
  pool.on('error', () => undefined)
  const table = `"${schema}".steps`
  const close = async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
    await pool.end()
  }
  try {
    await pool.query(`CREATE SCHEMA "${schema}"`)
    await pool.query(
      `CREATE TABLE ${table} (run_id text NOT NULL, step integer NOT NULL, at bigint NOT NULL,
        body text NOT NULL, PRIMARY KEY (run_id, step))`,
    )
    // Open every connection before timing, so connection setup is not measured.
    const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()))
    for (const client of clients) client.release()
    return { pool, table, close }
  } catch (error) {
    await close()
    throw error
  }
}

/**
 * One workflow: `steps` autocommit INSERTs, each awaited before the next. A `body` that is not a
 * string is what each step returned: it is JSON.stringified before every INSERT, as anything that
 * stores a step's result must.
 */
function workflow(db: pg.Pool | pg.PoolClient, table: string, steps: number, body: unknown, prefix: string) {
  const insert = `INSERT INTO ${table} (run_id, step, at, body) VALUES ($1, $2, $3, $4)`
  const text = () => (typeof body === 'string' ? body : JSON.stringify(body))
  return async (i: number): Promise<void> => {
    const id = `${prefix}-${i}`
    for (let step = 0; step < steps; step++) await db.query(insert, [id, step, Date.now(), text()])
  }
}

type Shape = { connections: number; workers: number; steps: number; body: unknown; workflows: number }

/** A floor kept open, to be timed by `measure` or `measureInterleaved` and closed afterwards. */
export interface Floor extends Contender {
  close(): Promise<void>
}

/** A sequential floor (one connection, held throughout), warmed up and ready to time. */
async function openSequential(name: string, options: PostgresFloorOptions, shape: Shape): Promise<Floor> {
  const count = options.workflows ?? shape.workflows
  const { pool, table, close } = await openSchema(options, 1)
  const client = await pool.connect()
  const release = async () => {
    client.release()
    await close()
  }
  try {
    // Small rows: as long a warm-up as our side's (see JIT_WARM_RUNS).
    const warm = shape.body === SMALL_ROW ? JIT_WARM_RUNS : Math.max(1, Math.floor(count / 10))
    await measure('warm-up', warm, 1, workflow(client, table, shape.steps, shape.body, 'w'))
    return { name, one: workflow(client, table, shape.steps, shape.body, 'm'), close: release }
  } catch (error) {
    await release()
    throw error
  }
}

/** The concurrent floor: `shape.workers` logical workers on `shape.connections` connections. */
async function runConcurrent(
  name: string,
  options: PostgresFloorOptions,
  shape: Shape,
): Promise<Measurement> {
  const count = options.workflows ?? shape.workflows
  const { pool, table, close } = await openSchema(options, shape.connections)
  try {
    const warm = Math.max(1, Math.floor(count / 10))
    await measure('warm-up', warm, shape.workers, workflow(pool, table, shape.steps, shape.body, 'w'))
    return await measure(name, count, shape.workers, workflow(pool, table, shape.steps, shape.body, 'm'))
  } finally {
    await close()
  }
}

/** Floor, sequential: 3 small INSERTs per workflow on 1 connection, opened for `measureInterleaved`. */
export function openPostgresFloorSequential(options: PostgresFloorOptions = {}): Promise<Floor> {
  return openSequential('pg floor: 3 INSERTs sequential (1 conn)', options, {
    connections: 1,
    workers: 1,
    steps: 3,
    body: SMALL_ROW,
    workflows: 1_000,
  })
}

/** Floor, concurrent: 3 small INSERTs per workflow, 100 logical workers on 10 connections. */
export function postgresFloorConcurrent(options: PostgresFloorOptions = {}): Promise<Measurement> {
  return runConcurrent('pg floor: 3 INSERTs concurrent (100 workers, 10 conns)', options, {
    connections: 10,
    workers: 100,
    steps: 3,
    body: SMALL_ROW,
    workflows: 5_000,
  })
}

/**
 * Floor, large documents: 5 INSERTs of ~100 KB JSON per workflow, sequential on 1 connection,
 * opened for `measureInterleaved`. With `document`, each step JSON.stringifies what it returned
 * before its INSERT; without, it inserts a ready string.
 */
export function openPostgresFloorLargeSequential(
  options: PostgresFloorOptions & { document?: object } = {},
): Promise<Floor> {
  const name = options.document
    ? 'pg floor: 5 × (JSON.stringify + 100 KB INSERT) sequential (1 conn)'
    : 'pg floor: 5 × 100 KB INSERT of a ready string, sequential (1 conn)'
  return openSequential(name, options, {
    connections: 1,
    workers: 1,
    steps: 5,
    body: options.document ?? largeDocument(),
    workflows: 200,
  })
}
