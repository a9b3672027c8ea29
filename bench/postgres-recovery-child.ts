/**
 * Child process of the Postgres recovery benchmark. Args: url schema log mode runs.
 * `first`: enqueues the runs, drives them (20 at a time) and asks to be killed once half have
 * completed. `second`: a restart with the same workerId, which takes the dead incarnation's
 * leases over at once, drains everything and prints `DONE`. Every step appends `<id> <step>` to
 * the log before it returns, so the parent can count what ran again.
 */
import { appendFileSync } from 'node:fs'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../src/index.js'
import { PostgresStorage } from '../src/postgres.js'

const [url, schema, log, mode, runsArg] = process.argv.slice(2) as [string, string, string, string, string]
const RUNS = Number(runsArg)
const pause = () => new Promise((r) => setTimeout(r, 2))
const step = (name: string) => async (ctx: { id: string }) => {
  appendFileSync(log, `${ctx.id} ${name}\n`)
  await pause()
}
const flow = createWorkflow('bench-pg-recovery')
  .step('a', step('a'))
  .step('b', step('b'))
  .step('c', step('c'))
const storage = new PostgresStorage({ connectionString: url, schema })
const engine = new FluxEngine({
  storage,
  logger: new FluxSilentLogger(),
  workerId: 'bench-recovery',
  recoverOnInit: false,
  workflows: [flow],
})
await engine.init()

const completed = async () => (await storage.listRuns({ statuses: ['completed'], limit: 0 })).total

if (mode === 'first') {
  for (let n = 0; n < RUNS; n++) await engine.enqueue(flow, {}, { id: `r${n}` })
  await engine.worker({ concurrency: 20, pollInterval: 5 }).start()
  for (;;) {
    const total = await completed()
    if (total >= RUNS / 2) {
      process.stdout.write(`KILLME ${total}\n`)
      await new Promise(() => {})
    }
    await new Promise((r) => setTimeout(r, 1))
  }
} else {
  await engine.worker({ concurrency: 100, pollInterval: 5 }).start()
  while ((await completed()) < RUNS) await new Promise((r) => setTimeout(r, 5))
  process.stdout.write('DONE\n')
  await engine.close()
}
