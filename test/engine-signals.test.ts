import { describe, expect, it } from 'vitest'
import {
  createWorkflow,
  Flux,
  FluxEngine,
  FluxSilentLogger,
  MemoryStorage,
  SignalConflictError,
  SignalTimeoutError,
  type WorkflowContext,
} from '../src/index.js'
import { testEngine } from './helpers/engine.js'

function approvalFlow(log: string[]) {
  return createWorkflow('approval')
    .input<{ amount: number }>()
    .step('prepare', (ctx) => {
      log.push('prepare')
      ctx.data.prepared = true
    })
    .step('wait', () => Flux.wait('approved'))
    .commit('pay', (ctx: WorkflowContext<{ amount: number }>) => {
      log.push('pay')
      ctx.data.paid = ctx.signals.approved
    })
}

describe('signals', () => {
  it('suspends on Flux.wait and continues on signal, with the payload as the wait output', async () => {
    const { engine } = testEngine()
    const log: string[] = []
    const flow = approvalFlow(log)
    const first = await engine.execute(flow, { amount: 5 })
    expect(first.status).toBe('suspended')
    expect(first.history[1]).toMatchObject({ status: 'suspended', waitingFor: 'approved' })
    expect(first.history[1]!.suspendedAt).toBeInstanceOf(Date)
    const stored = await engine.get(first.id)
    expect([stored!.status, stored!.waitingFor]).toEqual(['suspended', 'approved'])
    const done = await engine.signal(flow, first.id, 'approved', { by: 'ada' })
    expect(done.status).toBe('completed')
    expect(done.history[1]).toMatchObject({ status: 'completed', output: { by: 'ada' } })
    expect(done.data).toEqual({ prepared: true, paid: { by: 'ada' } })
    expect(log).toEqual(['prepare', 'pay'])
  })

  it('uses the origin error messages', async () => {
    const { engine } = testEngine()
    const flow = approvalFlow([])
    await expect(engine.signal(flow, 'missing', 'approved')).rejects.toThrow('Workflow not found')
    const { id } = await engine.execute(flow, { amount: 1 })
    await expect(engine.signal(flow, id, 'rejected')).rejects.toThrow(
      'Workflow waiting for signal "approved", received "rejected"',
    )
    await engine.signal(flow, id, 'approved')
    await expect(engine.signal(flow, id, 'approved')).rejects.toThrow(
      'Workflow is not suspended (status: completed)',
    )
  })

  it('two concurrent signals for one wait: one wins, the other gets a clear error, the next step runs once', async () => {
    const { engine } = testEngine()
    const log: string[] = []
    const flow = approvalFlow(log)
    const { id } = await engine.execute(flow, { amount: 1 })
    const outcomes = await Promise.allSettled([
      engine.signal(flow, id, 'approved', 1),
      engine.signal(flow, id, 'approved', 2),
    ])
    const fulfilled = outcomes.filter((o) => o.status === 'fulfilled')
    const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[]
    expect(fulfilled).toHaveLength(1)
    expect(rejected).toHaveLength(1)
    expect(rejected[0]!.reason).toBeInstanceOf(SignalConflictError)
    expect(log.filter((l) => l === 'pay')).toHaveLength(1)
    expect((await engine.get(id))!.status).toBe('completed')
  })

  it('two engines on one store racing to signal: the next step still runs once', async () => {
    const storage = new MemoryStorage()
    const log: string[] = []
    const flow = approvalFlow(log)
    const a = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const b = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const { id } = await a.execute(flow, { amount: 1 })
    const outcomes = await Promise.allSettled([
      a.signal(flow, id, 'approved', 'a'),
      b.signal(flow, id, 'approved', 'b'),
    ])
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    expect(log.filter((l) => l === 'pay')).toHaveLength(1)
  })

  it('keeps a signal sent before the wait is reached, and the run completes without a second one', async () => {
    const { engine } = testEngine()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const flow = createWorkflow('early')
      .step('slow', async () => {
        await gate
      })
      .step('wait', () => Flux.wait('go'))
      .step('after', (ctx) => {
        ctx.data.got = ctx.signals.go
      })
    const running = engine.execute(flow, {}, { id: 'early-1' })
    await new Promise((r) => setImmediate(r))
    const early = await engine.signal(flow, 'early-1', 'go', { early: true })
    expect(early.status).toBe('running')
    release()
    const result = await running
    expect(result.status).toBe('completed')
    expect(result.data).toEqual({ got: { early: true } })
    expect(result.history[1]!.output).toEqual({ early: true })
  })

  it('refuses a second early signal of the same name while the first is unconsumed', async () => {
    const { engine } = testEngine()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const flow = createWorkflow('early2')
      .step('slow', () => gate)
      .step('wait', () => Flux.wait('go'))
    const running = engine.execute(flow, {}, { id: 'e2' })
    await new Promise((r) => setImmediate(r))
    await engine.signal(flow, 'e2', 'go', 1)
    await expect(engine.signal(flow, 'e2', 'go', 2)).rejects.toBeInstanceOf(SignalConflictError)
    release()
    expect((await running).history[1]!.output).toBe(1)
  })

  it('fails the wait step with SignalTimeoutError when the timeout passes, then compensates', async () => {
    const { engine, clock } = testEngine()
    const undone: string[] = []
    const flow = createWorkflow('timed')
      .step('reserve', () => {}, { compensate: () => void undone.push('reserve') })
      .step('wait', () => Flux.wait('go', { timeout: 60_000 }))
    await engine.startWorker({ pollInterval: 1000 })
    const first = await engine.execute(flow, {})
    expect(first.status).toBe('suspended')
    await clock.advance(61_000)
    const after = await engine.get(first.id)
    expect(after!.status).toBe('rolled_back')
    expect(after!.history[1]!.status).toBe('failed')
    expect(after!.history[1]!.error).toBe(new SignalTimeoutError('go').message)
    expect(undone).toEqual(['reserve'])
    await engine.close()
  })

  it('a signal that arrives before the timeout wins', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('timed2')
      .step('wait', () => Flux.wait('go', { timeout: 60_000 }))
      .step('after', (ctx) => {
        ctx.data.ok = true
      })
    const { id } = await engine.execute(flow, {})
    const done = await engine.signal(flow, id, 'go')
    expect(done.status).toBe('completed')
    expect(done.data).toEqual({ ok: true })
  })

  it('signal({wait:false}) only stores it; a worker continues the run', async () => {
    const storage = new MemoryStorage()
    const log: string[] = []
    const flow = approvalFlow(log)
    const web = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const worker = new FluxEngine({
      storage,
      logger: new FluxSilentLogger(),
      workflows: [flow],
      pollInterval: 5,
    })
    const { id } = await web.execute(flow, { amount: 3 })
    const stored = await web.signal(flow, id, 'approved', 'ok', { wait: false })
    expect(stored.status).toBe('suspended')
    expect(log).toEqual(['prepare'])
    await worker.start()
    const done = await web.execute(flow, { amount: 3 }, { id })
    expect(done.status).toBe('completed')
    expect(log).toEqual(['prepare', 'pay'])
    await worker.close()
    await web.close()
  })
})
