/**
 * Claim latency with and without queue limits, on SQLite and Postgres, with a backlog.
 *
 * The store holds `backlog` pending runs on `mail` (older, so first in claim order) and 1,000
 * on `default`. Each case claims 10 runs, then hands them back (untimed), so every claim sees
 * the same store:
 * - no limits: today's claim;
 * - `{ mail: 5 }`, mail has room: the capped claim's extra statements and count;
 * - `{ mail: 5 }`, mail full (five live leases): the claim must pass the whole mail backlog to
 *   reach `default` — the case a naive claim would starve;
 * - `{ default: 5, mail: 5 }`, both with room, `queues` named.
 *
 * `npx tsx bench/queue-limits.ts [backlog=10000] [rounds=200]`. Postgres from `DATABASE_URL`
 * (default: the local test server); skipped when unreachable.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import type { ClaimDueParams, FluxStore } from '../src/storage/contract.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { SqliteStorage } from '../src/storage/sqlite/sqlite-storage.js'
import { sampleRun } from '../src/testing/index.js'

const BACKLOG = Number(process.argv[2] ?? 10_000)
const ROUNDS = Number(process.argv[3] ?? 200)
const T0 = 1_700_000_000_000
const NOW = T0 + 10 * 60_000

interface Case {
  name: string
  params: Partial<ClaimDueParams>
  /** Live leases on mail before the rounds. */
  busyMail: number
}

const CASES: Case[] = [
  { name: 'no limits', params: {}, busyMail: 0 },
  { name: '{ mail: 5 }, mail has room', params: { queueLimits: { mail: 5 } }, busyMail: 0 },
  { name: '{ mail: 5 }, mail full', params: { queueLimits: { mail: 5 } }, busyMail: 5 },
  {
    name: '{ default: 5, mail: 5 }, queues named',
    params: { queueLimits: { default: 5, mail: 5 }, queues: ['default', 'mail'] },
    busyMail: 0,
  },
]

async function seed(store: FluxStore): Promise<void> {
  const batch: Promise<unknown>[] = []
  for (let i = 0; i < BACKLOG; i++) {
    batch.push(
      store.createRun({
        run: sampleRun(`m${i}`, { status: 'pending', queue: 'mail', createdAt: T0 + i }),
        sync: false,
      }),
    )
    if (batch.length === 500) await Promise.all(batch.splice(0))
  }
  for (let i = 0; i < 1000; i++) {
    batch.push(
      store.createRun({
        run: sampleRun(`d${i}`, { status: 'pending', queue: 'default', createdAt: T0 + BACKLOG + i }),
        sync: false,
      }),
    )
    if (batch.length === 500) await Promise.all(batch.splice(0))
  }
  await Promise.all(batch)
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!
}

async function runCase(store: FluxStore, c: Case): Promise<string> {
  for (let i = 0; i < c.busyMail; i++) {
    await store.createRun({
      run: sampleRun(`busy-${i}`, { queue: 'mail' }),
      lease: { owner: 'other', token: 'other/1', expiresAt: NOW + 3_600_000 },
    })
  }
  const times: number[] = []
  const taken = new Map<string, number>()
  for (let round = 0; round < ROUNDS + 20; round++) {
    const token = `bench/${round}`
    const started = performance.now()
    const claimed = await store.claimDue({
      lease: { owner: `bench-${round}`, token, expiresAt: NOW + 60_000 },
      now: NOW,
      definitionKeys: ['wf#h1'],
      limit: 10,
      ...c.params,
    })
    const elapsed = performance.now() - started
    if (round >= 20) times.push(elapsed)
    for (const s of claimed) taken.set(s.run.queue, (taken.get(s.run.queue) ?? 0) + 1)
    await Promise.all(claimed.map((s) => store.release({ id: s.run.id, token, now: NOW })))
  }
  for (let i = 0; i < c.busyMail; i++) await store.deleteRun(`busy-${i}`)
  times.sort((a, b) => a - b)
  const mix = [...taken].map(([q, n]) => `${q} ${(n / (ROUNDS + 20)).toFixed(1)}`).join(', ')
  return `  ${c.name.padEnd(40)} median ${percentile(times, 50).toFixed(2)} ms   p95 ${percentile(times, 95).toFixed(2)} ms   per claim: ${mix}`
}

/** Each case on a fresh store: claims and releases leave dead rows behind that would tax the next. */
async function bench(
  label: string,
  open: (i: number) => FluxStore,
  afterSeed: (i: number) => Promise<unknown> = async () => undefined,
): Promise<void> {
  console.log(`\n${label}: ${BACKLOG} pending on mail + 1000 on default, claims of 10`)
  // QUEUE_LIMIT_CASES=3,0 runs those cases only, in that order.
  const order = process.env.QUEUE_LIMIT_CASES?.split(',').map(Number) ?? CASES.map((_, i) => i)
  for (const i of order) {
    const store = open(i)
    await store.init()
    try {
      await seed(store)
      await afterSeed(i)
      console.log(await runCase(store, CASES[i]!))
    } finally {
      await store.close()
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'fluxflow-queue-limits-'))
try {
  await bench(
    'SQLite (file, WAL, synchronous=FULL)',
    (i) => new SqliteStorage({ path: join(dir, `full-${i}.db`) }),
  )
  await bench(
    'SQLite (file, WAL, synchronous=NORMAL)',
    (i) => new SqliteStorage({ path: join(dir, `normal-${i}.db`), synchronous: 'NORMAL' }),
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const prefix = `bench_${randomBytes(4).toString('hex')}`
const admin = new pg.Pool({ connectionString: url, max: 1 })
try {
  await admin.query('SELECT 1')
  await bench(
    'Postgres',
    (i) => new PostgresStorage({ connectionString: url, schema: `${prefix}_${i}` }),
    // What autovacuum would soon do after a bulk load: without statistics the planner guesses.
    (i) => admin.query(`ANALYZE "${prefix}_${i}".runs`),
  )
} catch (error) {
  console.log(`\nPostgres skipped: ${(error as Error).message}`)
} finally {
  for (let i = 0; i < CASES.length; i++)
    await admin.query(`DROP SCHEMA IF EXISTS "${prefix}_${i}" CASCADE`).catch(() => undefined)
  await admin.end()
}
