// Workflows for the crash tests. Every handler appends one line to an append-only side-effect
// log before doing anything else, so the parent can count executions across processes.
// Plain JS against dist/: the child processes run what ships, and start fast.
import { appendFileSync, existsSync } from 'node:fs'
import { createWorkflow, Flux } from '../../dist/index.js'

export function effect(log, fields) {
  appendFileSync(log, `${JSON.stringify({ t: Date.now(), pid: process.pid, ...fields })}\n`)
}

/** Blocks forever when the hang file names this point: the parent kills us here. */
async function maybeHang(hangFile, point) {
  if (!hangFile || !existsSync(hangFile)) return
  const { readFileSync } = await import('node:fs')
  if (readFileSync(hangFile, 'utf8').trim() !== point) return
  process.stdout.write(`READY ${point}\n`)
  await new Promise(() => {})
}

const forever = { timeout: Number.POSITIVE_INFINITY }

/** Waits (polling) until the gate file exists; prints `READY gate` once, when it starts waiting. */
async function gateOpen(gateFile) {
  if (!gateFile || existsSync(gateFile)) return
  process.stdout.write('READY gate\n')
  while (!existsSync(gateFile)) await new Promise((r) => setTimeout(r, 10))
}

export function workflows({ log, hang, gate }) {
  const step = (name, extra = {}) => [
    name,
    async (ctx) => {
      effect(log, { run: ctx.id, step: name, attempt: ctx.attempt, key: ctx.idempotencyKey })
      await maybeHang(hang, name)
    },
    { ...forever, ...extra },
  ]

  const basic = createWorkflow('crash-basic')
    .step(...step('s1'))
    .step(...step('s2'))
    .commit(...step('c1'))
    .step(...step('s3'))

  const backoff = createWorkflow('crash-backoff')
    .step(...step('s1'))
    .step(
      's2',
      async (ctx) => {
        effect(log, { run: ctx.id, step: 's2', attempt: ctx.attempt })
        if (ctx.attempt === 1) throw new Error('first attempt fails')
      },
      { ...forever, retries: 2, backoff: { initial: 2000, jitter: false } },
    )
    .step(...step('s3'))

  const sleeper = createWorkflow('crash-sleep')
    .step(...step('s1'))
    .step('nap', () => Flux.sleep(1500), forever)
    .step(...step('s2'))

  const signalled = createWorkflow('crash-signal')
    .step(...step('s1'))
    .step('wait', () => Flux.wait('go'), forever)
    .step(
      's2',
      async (ctx) => {
        effect(log, { run: ctx.id, step: 's2', attempt: ctx.attempt, payload: ctx.signals.go })
        await maybeHang(hang, 's2')
      },
      forever,
    )

  const compensate = (name) => async (ctx) => {
    effect(log, { run: ctx.id, step: `undo-${name}`, attempt: ctx.attempt })
    await maybeHang(hang, `undo-${name}`)
  }
  const saga = createWorkflow('crash-saga')
    .step(...step('s1', { compensate: compensate('s1') }))
    .step(...step('s2', { compensate: compensate('s2') }))
    .step(
      'boom',
      (ctx) => {
        effect(log, { run: ctx.id, step: 'boom', attempt: ctx.attempt })
        throw new Error('boom')
      },
      { retries: 0 },
    )

  // The random-kill workload: steps, commits, a flaky step with backoff, a sleep.
  const pause = () => new Promise((r) => setTimeout(r, Math.random() * 15))
  const mixed = createWorkflow('crash-mixed')
    .step('a', async (ctx) => {
      effect(log, { run: ctx.id, step: 'a', attempt: ctx.attempt })
      await pause()
      ctx.data.a = ctx.input.n
    })
    .commit('charge', async (ctx) => {
      effect(log, { run: ctx.id, step: 'charge', attempt: ctx.attempt, key: ctx.idempotencyKey })
      await pause()
      ctx.data.charged = true
    })
    .step(
      'flaky',
      async (ctx) => {
        effect(log, { run: ctx.id, step: 'flaky', attempt: ctx.attempt })
        await pause()
        if (ctx.attempt === 1 && ctx.input.n % 3 === 0) throw new Error('transient')
        ctx.data.flaky = ctx.attempt
      },
      { retries: 3, backoff: { initial: 20, jitter: false } },
    )
    .step('nap', (ctx) => {
      // Logged so the parent knows where a drive ended: a sleep parks the run and frees its slot.
      const slept = ctx.input.n % 4 === 0
      effect(log, { run: ctx.id, step: 'nap', attempt: ctx.attempt, slept })
      return slept ? Flux.sleep(40) : undefined
    })
    .commit('ship', async (ctx) => {
      effect(log, { run: ctx.id, step: 'ship', attempt: ctx.attempt, key: ctx.idempotencyKey })
      await pause()
      ctx.data.shipped = true
    })
    .step('done', async (ctx) => {
      effect(log, { run: ctx.id, step: 'done', attempt: ctx.attempt })
      ctx.data.total = (ctx.data.a ?? 0) + 1
    })

  // A run that stays in its second step until the parent opens the gate (a file): what the
  // parent does to the process's connections meanwhile must not stop it.
  const gated = createWorkflow('crash-gated')
    .step(...step('s1'))
    .step(
      's2',
      async (ctx) => {
        effect(log, { run: ctx.id, step: 's2', attempt: ctx.attempt })
        await gateOpen(gate)
      },
      forever,
    )
    .commit(...step('c1'))
    .step(...step('s3'))

  return { basic, backoff, sleeper, signalled, saga, mixed, gated }
}
