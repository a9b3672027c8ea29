/**
 * `npm run bench`: every benchmark beside its floor, measured in the same run.
 * Pass names to run a subset: `npm run bench -- memory sqlite`.
 */
import { printTable } from './harness.js'
import { memoryBench } from './memory.js'

const wanted = new Set(process.argv.slice(2))
const want = (name: string) => wanted.size === 0 || wanted.has(name)

console.log(`fluxflow bench — node ${process.version}, ${new Date().toISOString()}`)
if (want('memory')) printTable('MemoryStorage (three-step workflow)', await memoryBench())
