// A worker process for the crash tests. Usage: node child.mjs <json options>
//   { db, log, hang?, workerId, leaseMs, action, flow, id?, input?, signal?, payload?, count? }
// Prints "READY <point>" lines the parent waits for, and "DONE <json>" when its action finishes.
import { FluxEngine, FluxSilentLogger } from '../../dist/index.js'
import { SqliteStorage } from '../../dist/sqlite.js'
import { workflows } from './workflows.mjs'

const o = JSON.parse(process.argv[2])
const flows = workflows(o)
const flow = flows[o.flow]
const say = (line) => process.stdout.write(`${line}\n`)
const storage = new SqliteStorage({ path: o.db })
const engine = new FluxEngine({
  storage,
  logger: new FluxSilentLogger(),
  workerId: o.workerId,
  leaseMs: o.leaseMs ?? 30_000,
  pollInterval: o.pollInterval ?? 50,
  recoverOnInit: o.recoverOnInit ?? false,
  workflows: Object.values(flows),
  trace: {
    emit(e) {
      if (e.type === 'step:retry') say(`READY retry-${e.stepName}`)
      if (e.type === 'workflow:suspend') say(`READY suspended`)
    },
  },
})

switch (o.action) {
  case 'execute': {
    const r = await engine.execute(flow, o.input ?? {}, { id: o.id })
    say(`DONE ${JSON.stringify({ status: r.status })}`)
    break
  }
  case 'recover': {
    const ids = await engine.recover()
    say(`DONE ${JSON.stringify({ ids })}`)
    break
  }
  case 'store-signal': {
    // Deliver the signal durably, then stop here: a crash before anyone continues the run.
    const r = await engine.signal(flow, o.id, o.signal, o.payload, { wait: false })
    say(`READY signal-stored ${r.status}`)
    await new Promise(() => {})
    break
  }
  case 'signal': {
    const r = await engine.signal(flow, o.id, o.signal, o.payload)
    say(`DONE ${JSON.stringify({ status: r.status })}`)
    break
  }
  case 'worker': {
    // Runs the queue (and timers, and orphans) until `count` runs of `flow` are completed.
    for (let n = 0; n < (o.count ?? 0); n++)
      await engine.enqueue(flow, { n }, { id: `run-${n}` }).catch(() => undefined)
    await engine.start()
    say('READY worker')
    if (o.count === undefined) await new Promise(() => {})
    for (;;) {
      const { total } = await storage.listRuns({ workflowName: flow.name, statuses: ['completed'], limit: 0 })
      if (total >= (o.count ?? 0)) break
      await new Promise((r) => setTimeout(r, 50))
    }
    say(`DONE ${JSON.stringify({ completed: true })}`)
    break
  }
  default:
    throw new Error(`unknown action ${o.action}`)
}
await engine.close()
