/**
 * A worker process for the SQLite queue-limit test. Usage:
 *   node --import tsx queue-limits-child.ts <db> <log> enqueue <n>   (n runs on mail, n on default)
 *   node --import tsx queue-limits-child.ts <db> <log> work <total> <concurrency>
 * `work` opens the store, says `ready`, waits for a line on stdin (so the workers start
 * together), runs a worker with that concurrency and `queueConcurrency: { mail: 3 }` until
 * `total` runs are completed, then prints `done`. Each step appends its start and end, with a
 * high-resolution wall-clock time, to the shared log (O_APPEND keeps small lines whole).
 */
import { appendFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../../src/index.js'
import { SqliteStorage } from '../../src/sqlite.js'

const [db, log, role, count, concurrency = '10'] = process.argv.slice(2)
if (!db || !log || !role || !count) throw new Error('usage: queue-limits-child.ts <db> <log> <role> <n>')

const stamp = () => performance.timeOrigin + performance.now()
const flow = createWorkflow('metered')
  .input<{ queue: string }>()
  .step('work', async (ctx) => {
    const line = (event: string) =>
      `${JSON.stringify({ queue: ctx.input.queue, event, t: stamp(), pid: process.pid, id: ctx.id })}\n`
    appendFileSync(log, line('start'))
    await sleep(ctx.input.queue === 'mail' ? 60 : 20)
    appendFileSync(log, line('end'))
  })

const storage = new SqliteStorage({ path: db, busyTimeout: 20_000 })
const engine = new FluxEngine({
  storage,
  logger: new FluxSilentLogger(),
  workflows: [flow],
  pollInterval: 20,
  recoverOnInit: false,
})

if (role === 'enqueue') {
  for (const queue of ['mail', 'default'])
    for (let n = 0; n < Number(count); n++) await engine.enqueue(flow, { queue }, { queue })
} else {
  await engine.init()
  process.stdout.write('ready\n')
  await new Promise((resolve) => process.stdin.once('data', resolve))
  process.stdin.pause()
  const worker = engine.worker({ concurrency: Number(concurrency), queueConcurrency: { mail: 3 } })
  await worker.start()
  for (;;) {
    const { total } = await storage.listRuns({ statuses: ['completed'], limit: 0 })
    if (total >= Number(count)) break
    await sleep(20)
  }
  await worker.stop()
  process.stdout.write('done\n')
}
await engine.close()
