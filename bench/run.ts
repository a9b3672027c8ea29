/**
 * `npm run bench`: every benchmark beside its floor, measured in the same run.
 * Pass names to run a subset: `npm run bench -- memory sqlite postgres`.
 */
import { codecBench, printCodec } from './codec.js'
import { printTable } from './harness.js'
import { memoryBench } from './memory.js'
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
