/**
 * PostgresStorage beside the Postgres floor (bench/postgres-floor.ts: one autocommit INSERT of a
 * small row per step, `synchronous_commit = on`), measured in the same run:
 * - sequential: three-step workflows one after another, against the 1-connection floor;
 * - concurrent: 100 at a time (the storage's pool of 10), against the 10-connection floor;
 * - payload: five steps that each put a ~100 KB document into ctx.data, one workflow at a time,
 *   against the 1-connection floor of five 100 KB INSERTs;
 * - recovery: 200 runs in a worker process, SIGKILL once 100 have completed, time from the
 *   restart until all 200 are done, and what ran again;
 * - worker scaling: 1, 2 and 4 worker processes draining the same queue.
 * Every measurement gets its own schema, created fresh and dropped afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { foldSnapshot } from '../src/codec/checkpoint.js'
import { defaultSerializer } from '../src/codec/codec.js'
import { FluxEngine, FluxSilentLogger } from '../src/index.js'
import { PostgresStorage } from '../src/postgres.js'
import { type Contender, JIT_WARM_RUNS, type Measurement, measure, measureInterleaved } from './harness.js'
import { threeSteps } from './memory.js'
import {
  type Floor,
  openPostgresFloorLargeSequential,
  openPostgresFloorSequential,
  postgresFloorConcurrent,
} from './postgres-floor.js'
import { payloadDocument, payloadSteps } from './sqlite.js'

/** The server, with durable commits whatever its default (as the floor asks for). */
export function benchUrl(): string {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
  url.searchParams.set('options', '-c synchronous_commit=on')
  return url.href
}

function freshSchema(what: string): string {
  return `bench_${what}_${randomBytes(4).toString('hex')}`
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: benchUrl() })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

let jitWarm = false

/** An engine on a fresh schema (pool of 10, the default), warmed up, dropped afterwards. */
async function withEngine<T>(fn: (engine: FluxEngine) => Promise<T>): Promise<T> {
  const schema = freshSchema('ours')
  const engine = new FluxEngine({
    storage: new PostgresStorage({ connectionString: benchUrl(), schema }),
    logger: new FluxSilentLogger(),
  })
  try {
    await engine.init()
    // Connections opened and statements prepared before timing, as the floor does; the first
    // engine of the process also runs the code to its steady state (see JIT_WARM_RUNS).
    await measure('warm-up', 200, 20, (n) => engine.execute(threeSteps, { n }))
    if (!jitWarm) {
      jitWarm = true
      await measure('warm-up', JIT_WARM_RUNS, 1, (n) => engine.execute(threeSteps, { n }))
      await measure('warm-up', JIT_WARM_RUNS, 100, (n) => engine.execute(threeSteps, { n }))
      await measure('warm-up', 20, 1, (n) => engine.execute(payloadSteps, { n }))
    }
    return await fn(engine)
  } finally {
    await engine.close()
    await dropSchema(schema)
  }
}

/** Ours and the floors, interleaved in ten slices; the floors are closed afterwards. */
async function interleaved(count: number, ours: Contender[], floors: Floor[]): Promise<Measurement[]> {
  try {
    return await measureInterleaved(count, 10, [...ours, ...floors])
  } finally {
    for (const floor of floors) await floor.close()
  }
}

export async function postgresBench(): Promise<{ ours: Measurement; floor: Measurement }[]> {
  const rows: { ours: Measurement; floor: Measurement }[] = []
  // Sequential rows alternate with their floors in slices (see measureInterleaved).
  const [seq, seqFloor] = await withEngine(async (e) =>
    interleaved(
      1000,
      [{ name: 'pg sequential (1,000)', one: (n) => e.execute(threeSteps, { n }) }],
      [await openPostgresFloorSequential()],
    ),
  )
  rows.push({ ours: seq!, floor: seqFloor! })

  const con = await withEngine((e) =>
    measure('pg concurrent (5,000, pool 100)', 5000, 100, (n) => e.execute(threeSteps, { n })),
  )
  rows.push({ ours: con, floor: await postgresFloorConcurrent() })

  // The floor that matches the workload: each step returns a document and the floor stores its
  // JSON. Then the storage-only floor, which inserts a string it was handed (no serializer).
  const [payload, payloadFloor, stringFloor] = await withEngine(async (e) =>
    interleaved(
      200,
      [{ name: 'pg payload (200 × 5 steps × 100 KB)', one: (n) => e.execute(payloadSteps, { n }) }],
      [
        await openPostgresFloorLargeSequential({ document: payloadDocument }),
        await openPostgresFloorLargeSequential(),
      ],
    ),
  )
  rows.push({ ours: payload!, floor: payloadFloor! })
  rows.push({ ours: payload!, floor: stringFloor! })
  return rows
}

/** A child process with its stdout lines. */
function child(script: string, args: string[]) {
  const proc = spawn(process.execPath, [new URL(script, import.meta.url).pathname, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let out = ''
  const waiters: { prefix: string; resolve: (line: string) => void }[] = []
  proc.stdout.on('data', (chunk: Buffer) => {
    out += chunk
    for (const w of [...waiters]) {
      const line = out.split('\n').find((l) => l.startsWith(w.prefix))
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  })
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()))
  return {
    proc: proc as ChildProcess,
    exited,
    line: (prefix: string) =>
      new Promise<string>((resolve, reject) => {
        const line = out.split('\n').find((l) => l.startsWith(prefix))
        if (line !== undefined) return resolve(line)
        waiters.push({ prefix, resolve })
        void exited.then(() => reject(new Error(`child exited before printing "${prefix}"`)))
      }),
  }
}

/** Which steps each run had recorded completed. */
async function completedSteps(store: PostgresStorage, ids: string[]): Promise<Map<string, Set<string>>> {
  const done = new Map<string, Set<string>>()
  for (const id of ids) {
    const snapshot = await store.loadRun(id)
    const history = snapshot ? foldSnapshot(defaultSerializer, snapshot).history : []
    done.set(id, new Set(history.filter((h) => h.status === 'completed').map((h) => h.name)))
  }
  return done
}

export interface PostgresRecovery {
  /** From spawning the restarted process until all runs are completed (its start included). */
  restartToDone: number
  completedBeforeKill: number
  completed: number
  /** Steps recorded completed before the kill that ran again: must be 0. */
  repeatedCompletedSteps: number
  /** Steps interrupted by the kill that ran again: allowed (at-least-once). */
  rerunInterrupted: number
}

/**
 * Recovery: 200 runs in a worker process, SIGKILL once 100 have completed; then a restart with
 * the same workerId, which takes the dead incarnation's leases over at once and drains the rest.
 * What was recorded at the kill is read here, between the two processes, so the restart's time
 * is only its own.
 */
export async function postgresRecoveryBench(runs = 200): Promise<PostgresRecovery> {
  const schema = freshSchema('recovery')
  const dir = mkdtempSync(join(tmpdir(), 'fluxflow-pg-recovery-'))
  const log = join(dir, 'effects.log')
  const store = new PostgresStorage({ connectionString: benchUrl(), schema, max: 2 })
  try {
    const first = child('./postgres-recovery-child.js', [benchUrl(), schema, log, 'first', String(runs)])
    const killedAfter = Number((await first.line('KILLME')).split(' ')[1])
    first.proc.kill('SIGKILL')
    await first.exited
    await store.init()
    const ids = Array.from({ length: runs }, (_, n) => `r${n}`)
    const atKill = await completedSteps(store, ids)
    const before = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []

    const started = performance.now()
    const second = child('./postgres-recovery-child.js', [benchUrl(), schema, log, 'second', String(runs)])
    await second.line('DONE')
    const restartToDone = performance.now() - started
    await second.exited

    const after = readFileSync(log, 'utf8').split('\n').filter(Boolean).slice(before.length)
    const ranBefore = new Set(before)
    let repeatedCompletedSteps = 0
    let rerunInterrupted = 0
    for (const line of after) {
      const [id, name] = line.split(' ') as [string, string]
      if (atKill.get(id)?.has(name)) repeatedCompletedSteps++
      else if (ranBefore.has(line)) rerunInterrupted++
    }
    const { total } = await store.listRuns({ statuses: ['completed'], limit: 0 })
    return {
      restartToDone,
      completedBeforeKill: killedAfter,
      completed: total,
      repeatedCompletedSteps,
      rerunInterrupted,
    }
  } finally {
    await store.close()
    await dropSchema(schema)
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface ScalingPoint {
  workers: number
  runs: number
  ms: number
  rate: number
}

/**
 * Worker scaling: `runs` three-step runs are enqueued, then 1, 2 or 4 worker processes
 * (concurrency 50 each, a pool of 10 each) start together and drain them; the time is from the
 * go signal until the last run is completed.
 */
export async function postgresScalingBench(counts = [1, 2, 4], runs = 3000): Promise<ScalingPoint[]> {
  const points: ScalingPoint[] = []
  for (const workers of counts) {
    const schema = freshSchema('scaling')
    const engine = new FluxEngine({
      storage: new PostgresStorage({ connectionString: benchUrl(), schema }),
      logger: new FluxSilentLogger(),
      workflows: [threeSteps],
    })
    const children: ReturnType<typeof child>[] = []
    try {
      await engine.init()
      let next = 0
      const lane = async () => {
        for (let n = next++; n < runs; n = next++) await engine.enqueue(threeSteps, { n })
      }
      await Promise.all(Array.from({ length: 20 }, lane))
      for (let i = 0; i < workers; i++)
        children.push(child('./postgres-worker-child.js', [benchUrl(), schema, String(i), '50']))
      // Every process started, connected and registered before the clock starts.
      await Promise.all(children.map((c) => c.line('READY')))
      const started = performance.now()
      for (const c of children) c.proc.stdin!.write('GO\n')
      for (;;) {
        const { total } = await engine.storage.listRuns({ statuses: ['completed'], limit: 0 })
        if (total >= runs) break
        await new Promise((r) => setTimeout(r, 5))
      }
      const ms = performance.now() - started
      points.push({ workers, runs, ms, rate: (runs / ms) * 1000 })
    } finally {
      for (const c of children) c.proc.kill('SIGKILL')
      await Promise.all(children.map((c) => c.exited))
      await engine.close()
      await dropSchema(schema)
    }
  }
  return points
}
