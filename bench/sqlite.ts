/**
 * SqliteStorage beside the SQLite floor (better-sqlite3, WAL, synchronous=FULL, one autocommit
 * INSERT per step), measured in the same run: sequential, concurrent (pool 100), payload (a
 * ~100 KB JSON document from each of 5 steps) and recovery (200 runs, kill -9 after 100 complete,
 * time from restart until all are done).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../src/index.js'
import { SqliteStorage, type SqliteStorageOptions } from '../src/sqlite.js'
import { type Contender, JIT_WARM_RUNS, type Measurement, measure, measureInterleaved } from './harness.js'
import { threeSteps } from './memory.js'
import {
  type Floor,
  largeDocument,
  openSqliteFloor,
  openSqliteLargeDocFloor,
  sqliteFloor,
} from './sqlite-floor.js'

/** Five ~100 KB documents, as an API would return them (parsed once, outside the measurement). */
const docs = Array.from({ length: 5 }, () => JSON.parse(largeDocument()) as object)

/** One of them: what a payload floor's step returns. */
export const payloadDocument: object = docs[0]!

/** Five steps, each returning a ~100 KB document into ctx.data. */
export const payloadSteps = (() => {
  let flow = createWorkflow('bench-payload').input<{ n: number }>()
  for (let i = 0; i < 5; i++) flow = flow.step(`doc${i}`, (ctx) => void (ctx.data[`doc${i}`] = docs[i]))
  return flow
})()

async function withEngine<T>(
  fn: (engine: FluxEngine) => Promise<T>,
  options: SqliteStorageOptions = {},
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'fluxflow-bench-'))
  const engine = new FluxEngine({
    storage: new SqliteStorage({ ...options, path: join(dir, 'flux.db') }),
    logger: new FluxSilentLogger(),
  })
  try {
    await engine.init()
    return await fn(engine)
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Ours and the floors, interleaved in ten slices; the floors are closed afterwards. Each side
 * first runs `warm` workflows on the database it is measured on, so both are timed in steady
 * state: the WAL file grown to its working size (until then every commit also extends the file,
 * and its fsync writes the file system's metadata too), caches and b-trees past their first pages.
 */
async function interleaved(
  count: number,
  warm: number,
  ours: Contender[],
  floors: Floor[],
): Promise<Measurement[]> {
  try {
    for (const side of [...ours, ...floors]) await measure('warm-up', warm, 1, (n) => side.one(count + n))
    return await measureInterleaved(count, 10, [...ours, ...floors])
  } finally {
    for (const floor of floors) floor.close()
  }
}

export async function sqliteBench(): Promise<{ ours: Measurement; floor: Measurement }[]> {
  const rows: { ours: Measurement; floor: Measurement }[] = []
  // Steady state (see JIT_WARM_RUNS), on a database of its own; the floor warms the same way.
  await withEngine(async (e) => {
    await measure('warm-up', JIT_WARM_RUNS, 1, (n) => e.execute(threeSteps, { n }))
    await measure('warm-up', JIT_WARM_RUNS, 100, (n) => e.execute(threeSteps, { n }))
    await measure('warm-up', 20, 1, (n) => e.execute(payloadSteps, { n }))
  })
  // Sequential rows alternate with their floors in slices (see measureInterleaved). The second
  // engine checkpoints its WAL at SQLite's default of 1000 pages: what walAutocheckpoint's
  // default of 8000 is worth, in the same slices.
  const [seq, seqAt1000, seqFloor] = await withEngine((e) =>
    withEngine(
      (at1000) =>
        interleaved(
          1000,
          JIT_WARM_RUNS,
          [
            { name: 'sqlite sequential (1,000)', one: (n) => e.execute(threeSteps, { n }) },
            {
              name: 'sqlite sequential, walAutocheckpoint 1000',
              one: (n) => at1000.execute(threeSteps, { n }),
            },
          ],
          [openSqliteFloor({ workflows: 1000 })],
        ),
      { walAutocheckpoint: 1000 },
    ),
  )
  rows.push({ ours: seq!, floor: seqFloor! })
  rows.push({ ours: seqAt1000!, floor: seqFloor! })

  const con = await withEngine((e) =>
    measure('sqlite concurrent (5,000, pool 100)', 5000, 100, (n) => e.execute(threeSteps, { n })),
  )
  const conFloor = await sqliteFloor({ workflows: 1000 })
  rows.push({
    ours: con,
    floor: { ...conFloor, name: `${conFloor.name} — pool 100 cannot help a synchronous driver` },
  })

  // The floor that matches the workload (each step returns a document; the floor stores its
  // JSON), then the storage-only floor, which inserts a string it was handed.
  const [payload, payloadFloor, stringFloor] = await withEngine((e) =>
    interleaved(
      100,
      100,
      [{ name: 'sqlite payload (100 × 5 steps × 100 KB)', one: (n) => e.execute(payloadSteps, { n }) }],
      [
        openSqliteLargeDocFloor({ workflows: 100, serialize: true }),
        openSqliteLargeDocFloor({ workflows: 100 }),
      ],
    ),
  )
  rows.push({ ours: payload!, floor: payloadFloor! })
  rows.push({ ours: payload!, floor: stringFloor! })
  return rows
}

/** Recovery: 200 runs in a child process, SIGKILL after 100 completed, time until a restarted process finishes the rest. */
export async function sqliteRecoveryBench(): Promise<{
  restartToDone: number
  completedBeforeKill: number
  repeatedCompletedSteps: number
  rerunInterrupted: number
}> {
  const dir = mkdtempSync(join(tmpdir(), 'fluxflow-recovery-'))
  const child = new URL('./recovery-child.js', import.meta.url).pathname
  const db = join(dir, 'flux.db')
  const log = join(dir, 'effects.ndjson')
  try {
    const first = spawn(process.execPath, [child, db, log, 'first'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const killedAfter = await new Promise<number>((resolve) => {
      first.stdout.on('data', (chunk: Buffer) => {
        const m = /KILLME (\d+)/.exec(String(chunk))
        if (m) {
          first.kill('SIGKILL')
          resolve(Number(m[1]))
        }
      })
    })
    await new Promise((r) => first.on('exit', r))
    const started = performance.now()
    const second = spawn(process.execPath, [child, db, log, 'second'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    second.stdout.on('data', (c: Buffer) => {
      out += c
    })
    await new Promise((r) => second.on('exit', r))
    const restartToDone = performance.now() - started
    const stats = JSON.parse(/STATS (.*)/.exec(out)?.[1] ?? '{}')
    return { restartToDone, completedBeforeKill: killedAfter, ...stats }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
