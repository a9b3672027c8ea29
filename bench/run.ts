/**
 * `npm run bench`: every benchmark beside its floor, measured in the same run.
 * Pass names to run a subset: `npm run bench -- memory sqlite postgres`.
 */
import { codecBench, printCodec } from './codec.js'
import { printTable } from './harness.js'
import { memoryBench } from './memory.js'
import { postgresBench, postgresRecoveryBench, postgresScalingBench } from './postgres.js'
import { sqliteBench, sqliteRecoveryBench } from './sqlite.js'
import { viewerListBench } from './viewer-list.js'

const wanted = new Set(process.argv.slice(2))
const want = (name: string) => wanted.size === 0 || wanted.has(name)

console.log(`fluxflow bench — node ${process.version}, ${new Date().toISOString()}`)
if (want('codec')) printCodec(codecBench())
if (want('memory')) printTable('MemoryStorage (three-step workflow)', await memoryBench())
if (want('sqlite')) {
  printTable('SqliteStorage vs better-sqlite3 floor (WAL, synchronous=FULL)', await sqliteBench())
  const r = await sqliteRecoveryBench()
  console.log(
    `\nSQLite recovery: 200 runs, kill -9 after ${r.completedBeforeKill} completed → restart to all done: ${r.restartToDone.toFixed(0)} ms ` +
      `(process start included); completed steps repeated: ${r.repeatedCompletedSteps}; interrupted steps re-run: ${r.rerunInterrupted}`,
  )
}
if (want('viewer')) await viewerListBench()
if (want('postgres')) {
  printTable(
    'PostgresStorage vs the Postgres floor (autocommit INSERT per step, synchronous_commit=on)',
    await postgresBench(),
  )
  const r = await postgresRecoveryBench()
  console.log(
    `\nPostgres recovery: 200 runs, kill -9 after ${r.completedBeforeKill} completed → restart to all ${r.completed} done: ${r.restartToDone.toFixed(0)} ms ` +
      `(process start included); completed steps repeated: ${r.repeatedCompletedSteps}; interrupted steps re-run: ${r.rerunInterrupted}`,
  )
  const scaling = await postgresScalingBench()
  const base = scaling[0]!.rate
  console.log(
    `\nPostgres worker scaling (${scaling[0]!.runs.toLocaleString('en-US')} three-step runs, 50 at a time per process): ` +
      scaling
        .map(
          (p) =>
            `${p.workers} process${p.workers > 1 ? 'es' : ''}: ${Math.round(p.rate).toLocaleString('en-US')} wf/s (${(p.rate / base).toFixed(2)}×)`,
        )
        .join(', '),
  )
}
