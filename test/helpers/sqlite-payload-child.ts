/**
 * A child process for the WAL checkpoint crash test: runs one-step workflows whose step stores a
 * ~100 KB value, one after another, on the SQLite file given, and prints `done <id>` once each
 * execute has resolved (the run is acknowledged) and `checkpoints <n>` when the store has run a
 * data-driven WAL checkpoint. Runs until killed. Usage: node --import tsx sqlite-payload-child.ts <path>
 */
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../../src/index.js'
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js'

const [path] = process.argv.slice(2)
if (!path) throw new Error('usage: sqlite-payload-child.ts <path>')

const storage = new SqliteStorage({ path })
const engine = new FluxEngine({ storage, logger: new FluxSilentLogger() })
const doc = createWorkflow('doc')
  .input<{ n: number }>()
  .step('store', (ctx) => void (ctx.data.doc = `${ctx.input.n}:${'x'.repeat(100_000)}`))
await engine.init()
let seen = 0
for (let n = 0; ; n++) {
  const result = await engine.execute(doc, { n })
  process.stdout.write(`done ${result.id} ${n}\n`)
  if (storage.dataCheckpoints > seen) {
    seen = storage.dataCheckpoints
    process.stdout.write(`checkpoints ${seen}\n`)
  }
}
