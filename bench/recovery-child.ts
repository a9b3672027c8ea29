/**
 * Child process of the recovery benchmark. `first`: starts 200 runs and asks to be killed once
 * 100 have completed. `second`: a restart with the same workerId, which takes the dead
 * process's runs over at once and finishes them; prints what was repeated.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../src/index.js'
import { SqliteStorage } from '../src/sqlite.js'

const [db, log, mode] = process.argv.slice(2) as [string, string, 'first' | 'second']
const RUNS = 200
const pause = () => new Promise((r) => setTimeout(r, 2))
const step = (name: string) => async (ctx: { id: string }) => {
  appendFileSync(log, `${ctx.id} ${name}\n`)
  await pause()
}
const flow = createWorkflow('bench-recovery').step('a', step('a')).step('b', step('b')).step('c', step('c'))
const storage = new SqliteStorage({ path: db })
const engine = new FluxEngine({
  storage,
  logger: new FluxSilentLogger(),
  workerId: 'bench-recovery',
  recoverOnInit: false,
  workflows: [flow],
})
await engine.init()

if (mode === 'first') {
  for (let n = 0; n < RUNS; n++) await engine.enqueue(flow, {}, { id: `r${n}` })
  await engine.worker({ concurrency: 20, pollInterval: 5 }).start()
  for (;;) {
    const { total } = await storage.listRuns({ statuses: ['completed'], limit: 0 })
    if (total >= RUNS / 2) {
      process.stdout.write(`KILLME ${total}\n`)
      await new Promise(() => {})
    }
    await new Promise((r) => setTimeout(r, 1))
  }
} else {
  const completedAtKill = new Map<string, Set<string>>()
  for (let n = 0; n < RUNS; n++) {
    const state = await storage.load(`r${n}`)
    completedAtKill.set(
      `r${n}`,
      new Set(state!.history.filter((h) => h.status === 'completed').map((h) => h.name)),
    )
  }
  const before = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []
  // The same workerId: the dead incarnation's leases are taken over at once, queued runs too.
  await engine.worker({ concurrency: 100, pollInterval: 5 }).start()
  let total = 0
  while (total < RUNS) {
    total = (await storage.listRuns({ statuses: ['completed'], limit: 0 })).total
    if (total < RUNS) await new Promise((r) => setTimeout(r, 2))
  }
  const after = readFileSync(log, 'utf8').split('\n').filter(Boolean).slice(before.length)
  let repeatedCompletedSteps = 0
  let rerunInterrupted = 0
  const ranBefore = new Set(before)
  for (const line of after) {
    const [id, name] = line.split(' ') as [string, string]
    if (completedAtKill.get(id)?.has(name)) repeatedCompletedSteps++
    else if (ranBefore.has(line)) rerunInterrupted++
  }
  await engine.close()
  process.stdout.write(
    `STATS ${JSON.stringify({ completed: total, repeatedCompletedSteps, rerunInterrupted })}\n`,
  )
}
