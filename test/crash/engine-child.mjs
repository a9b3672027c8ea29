// The body of a crash-test child process, shared by child.mjs (SQLite) and pg-child.mjs (Postgres):
// each wrapper builds its storage and hands it here with the parsed options.
//   { log, hang?, gate?, workerId, leaseMs?, pollInterval?, action, flow, id?, input?, signal?, payload?,
//     count?, enqueue?, concurrency?, verbose?, drives? }
// With `drives`, the start of every drive is logged too (step `@drive`): where a process took a
// run (again), which the parent needs to tell the drives of one run in one process apart.
// Prints "READY <point>" lines the parent waits for, and "DONE <json>" when its action finishes.
import { FluxEngine, FluxSilentLogger } from '../../dist/index.js'
import { effect, workflows } from './workflows.mjs'

/** The trace events that open a drive (a claimed run being carried forward in this process). */
const DRIVE_STARTS = new Set(['workflow:start', 'workflow:resume', 'workflow:recover'])

const say = (line) => process.stdout.write(`${line}\n`)

/** Prints warnings and errors as `LOG <level> <message>`, so a test can see why drives stopped. */
const printingLogger = {
  debug() {},
  info() {},
  warn: (message) => say(`LOG warn ${message}`),
  error: (message) => say(`LOG error ${message}`),
}

export async function runChild(o, storage) {
  const flows = workflows(o)
  const flow = flows[o.flow]
  const engine = new FluxEngine({
    storage,
    logger: o.verbose ? printingLogger : new FluxSilentLogger(),
    workerId: o.workerId,
    leaseMs: o.leaseMs ?? 30_000,
    pollInterval: o.pollInterval ?? 50,
    recoverOnInit: o.recoverOnInit ?? false,
    workflows: Object.values(flows),
    trace: {
      emit(e) {
        if (o.drives && DRIVE_STARTS.has(e.type))
          effect(o.log, { run: e.workflowId, step: '@drive', attempt: 0 })
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
    case 'enqueue': {
      // `count` runs `run-0…`, a few at a time (each is one durable INSERT), then exit.
      let next = 0
      const lane = async () => {
        for (let n = next++; n < o.count; n = next++) await engine.enqueue(flow, { n }, { id: `run-${n}` })
      }
      await Promise.all(Array.from({ length: 8 }, lane))
      say(`DONE ${JSON.stringify({ enqueued: o.count })}`)
      break
    }
    case 'worker': {
      // Runs the queue (and timers, and orphans) until `count` runs of `flow` are completed;
      // enqueues them first unless `enqueue: false` (another process did).
      if (o.enqueue !== false)
        for (let n = 0; n < (o.count ?? 0); n++)
          await engine.enqueue(flow, { n }, { id: `run-${n}` }).catch(() => undefined)
      await engine.worker({ concurrency: o.concurrency ?? 10 }).start()
      say('READY worker')
      if (o.count === undefined) await new Promise(() => {})
      for (;;) {
        const { total } = await storage
          .listRuns({ workflowName: flow.name, statuses: ['completed'], limit: 0 })
          // A storage hiccup (a terminated backend) is not the end of this loop.
          .catch(() => ({ total: -1 }))
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
}
