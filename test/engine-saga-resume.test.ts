import { describe, expect, it } from 'vitest'
import { createWorkflow, FluxDefinitionChangedError, type FluxTraceEvent } from '../src/index.js'
import { testEngine } from './helpers/engine.js'

describe('compensation (saga)', () => {
  it('compensates completed steps in reverse order and ends rolled_back', async () => {
    const events: FluxTraceEvent[] = []
    const errors: string[] = []
    const { engine } = testEngine({
      trace: { emit: (e) => void events.push(e) },
      on: { workflowError: (_ctx, e) => void errors.push(e.message) },
    })
    const log: string[] = []
    const flow = createWorkflow('trip')
      .step('flight', (ctx) => void (ctx.data.flight = 'F1'), {
        compensate: (ctx) => void log.push(`cancel ${ctx.data.flight}`),
      })
      .step('note', () => void log.push('note'))
      .step('hotel', (ctx) => void (ctx.data.hotel = 'H1'), {
        compensate: (ctx) => void log.push(`cancel ${ctx.data.hotel}`),
      })
      .step(
        'car',
        () => {
          throw new Error('no cars')
        },
        { retries: 0, compensate: () => void log.push('never') },
      )
    const result = await engine.execute(flow, {})
    expect(result.status).toBe('rolled_back')
    expect(result.error!.message).toBe('no cars')
    expect(log).toEqual(['note', 'cancel H1', 'cancel F1'])
    expect(result.history.map((h) => h.status)).toEqual(['compensated', 'completed', 'compensated', 'failed'])
    expect(result.history[0]!.compensatedAt).toBeInstanceOf(Date)
    expect(errors).toEqual(['no cars'])
    const types = events.map((e) => e.type)
    expect(types.slice(types.indexOf('workflow:rollback_start'))).toEqual([
      'workflow:rollback_start',
      'step:compensate',
      'step:compensate',
      'workflow:rollback_complete',
      'workflow:error',
    ])
  })

  it('ends failed when there is nothing to compensate', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('plain')
      .step('a', () => {})
      .step(
        'b',
        () => {
          throw new Error('x')
        },
        { retries: 0 },
      )
    const result = await engine.execute(flow, {})
    expect(result.status).toBe('failed')
  })

  it('retries a compensation with its step policy, then stops the walk with compensation_failed and records what is left', async () => {
    const { engine, clock } = testEngine()
    let refundAttempts = 0
    const log: string[] = []
    const flow = createWorkflow('refund')
      .step('reserve', () => {}, { compensate: () => void log.push('release') })
      .step('charge', () => {}, {
        retries: 2,
        backoff: { initial: 100, jitter: false },
        compensate: () => {
          refundAttempts++
          throw new Error('refund API down')
        },
      })
      .step(
        'ship',
        () => {
          throw new Error('warehouse closed')
        },
        { retries: 0 },
      )
    const running = engine.execute(flow, {})
    await clock.runAll()
    const result = await running
    expect(result.status).toBe('compensation_failed')
    expect(refundAttempts).toBe(3)
    expect(log).toEqual([])
    expect(result.error!.message).toBe('warehouse closed')
    expect(result.history.map((h) => h.status)).toEqual(['completed', 'compensating', 'failed'])
    expect(result.history[1]!.error).toBe('refund API down')
    const stored = await engine.get(result.id)
    expect(stored!.pendingCompensations).toEqual(['charge', 'reserve'])

    // An operator fixes the refund API and resumes: the walk finishes.
    const fixed = createWorkflow('refund')
      .step('reserve', () => {}, { compensate: () => void log.push('release') })
      .step('charge', () => {}, { compensate: () => void log.push('refund') })
      .step('ship', () => {})
    const resumed = await engine.resume(fixed, result.id)
    expect(resumed!.status).toBe('rolled_back')
    expect(log).toEqual(['refund', 'release'])
    expect((await engine.get(result.id))!.pendingCompensations).toBeUndefined()
  })

  it('a compensation may update data, and it is checkpointed', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('cdata')
      .step('pay', (ctx) => void (ctx.data.paid = 10), {
        compensate: (ctx) => void (ctx.data.refunded = ctx.data.paid),
      })
      .step(
        'boom',
        () => {
          throw new Error('x')
        },
        { retries: 0 },
      )
    const result = await engine.execute(flow, {})
    expect(result.data).toEqual({ paid: 10, refunded: 10 })
    expect((await engine.get(result.id))!.data).toEqual({ paid: 10, refunded: 10 })
  })
})

describe('resume and retryStep', () => {
  function orderFlow(counts: Record<string, number>, failShip: { value: boolean }) {
    const bump = (name: string) => {
      counts[name] = (counts[name] ?? 0) + 1
    }
    return createWorkflow('order')
      .step('validate', () => bump('validate'))
      .commit('charge', (ctx) => {
        bump('charge')
        ctx.data.chargeKey = ctx.idempotencyKey
      })
      .step(
        'ship',
        () => {
          bump('ship')
          if (failShip.value) throw new Error('courier down')
        },
        { retries: 0 },
      )
  }

  it('resume of a completed run re-runs nothing', async () => {
    const { engine } = testEngine()
    const counts: Record<string, number> = {}
    const flow = orderFlow(counts, { value: false })
    const first = await engine.execute(flow, {})
    const again = await engine.resume(flow, first.id)
    expect(again!.status).toBe('completed')
    expect(counts).toEqual({ validate: 1, charge: 1, ship: 1 })
    expect(await engine.resume(flow, 'unknown')).toBeNull()
    expect(await engine.retryStep(flow, 'unknown', 'ship')).toBeNull()
  })

  it('resume of a failed run continues from the failed step', async () => {
    const { engine } = testEngine()
    const counts: Record<string, number> = {}
    const failShip = { value: true }
    const flow = orderFlow(counts, failShip)
    const first = await engine.execute(flow, {})
    expect(first.status).toBe('failed')
    failShip.value = false
    const resumed = await engine.resume(flow, first.id)
    expect(resumed!.status).toBe('completed')
    expect(counts).toEqual({ validate: 1, charge: 1, ship: 2 })
  })

  it('retryStep before a completed commit skips the commit and keeps its outcome, unless recommit', async () => {
    const { engine } = testEngine()
    const counts: Record<string, number> = {}
    const flow = orderFlow(counts, { value: false })
    const first = await engine.execute(flow, {})
    const key = first.data.chargeKey
    expect(key).toBe(`${first.id}:charge`)
    const retried = await engine.retryStep(flow, first.id, 'validate')
    expect(retried!.status).toBe('completed')
    expect(counts).toEqual({ validate: 2, charge: 1, ship: 2 })
    expect(retried!.data.chargeKey).toBe(key)
    expect(retried!.history[1]!.status).toBe('completed')

    const recommitted = await engine.retryStep(flow, first.id, 'validate', { recommit: true })
    expect(counts).toEqual({ validate: 3, charge: 2, ship: 3 })
    expect(recommitted!.data.chargeKey).toBe(`${first.id}:charge:1`)
  })

  it('resume with fromStep by index or name, with the origin errors', async () => {
    const { engine } = testEngine()
    const counts: Record<string, number> = {}
    const flow = orderFlow(counts, { value: false })
    const first = await engine.execute(flow, {})
    await expect(engine.resume(flow, first.id, { fromStep: 7 })).rejects.toThrow('Invalid step index: 7')
    await expect(engine.resume(flow, first.id, { fromStep: -1 })).rejects.toThrow('Invalid step index: -1')
    await expect(engine.resume(flow, first.id, { fromStep: 'nope' })).rejects.toThrow('Step not found: nope')
    await expect(engine.retryStep(flow, first.id, 'nope')).rejects.toThrow('Step not found: nope')
    await engine.resume(flow, first.id, { fromStep: 2 })
    expect(counts).toEqual({ validate: 1, charge: 1, ship: 2 })
    await engine.resume(flow, first.id, { fromStep: 'validate' })
    expect(counts).toEqual({ validate: 2, charge: 1, ship: 3 })
  })

  it('refuses to continue a run with a changed definition, naming the steps', async () => {
    const { engine } = testEngine()
    const counts: Record<string, number> = {}
    const flow = orderFlow(counts, { value: true })
    const first = await engine.execute(flow, {})
    const changed = createWorkflow('order')
      .step('validate', () => {})
      .step('charge', () => {})
      .step('ship', () => {})
      .step('notify', () => {})
    const error = await engine.resume(changed, first.id).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FluxDefinitionChangedError)
    expect((error as FluxDefinitionChangedError).changedSteps).toEqual(['charge', 'notify'])
    expect((error as Error).message).toContain('charge, notify')
    const other = createWorkflow('other').step('x', () => {})
    await expect(engine.resume(other, first.id)).rejects.toThrow('Workflow name mismatch: order !== other')
  })

  it('allows a changed definition that carries the same explicit version', async () => {
    const { engine } = testEngine()
    let fail = true
    const v1 = createWorkflow('versioned')
      .version('1')
      .step(
        'a',
        () => {
          if (fail) throw new Error('x')
        },
        { retries: 0 },
      )
    const first = await engine.execute(v1, {})
    fail = false
    const v1b = createWorkflow('versioned')
      .version('1')
      .step('a', () => {})
      .step('b', (ctx) => void (ctx.data.b = true))
    const resumed = await engine.resume(v1b, first.id)
    expect(resumed!.status).toBe('completed')
    expect(resumed!.data).toEqual({ b: true })
  })
})

describe('cancel', () => {
  it('cancels a running run: aborts ctx.signal, ends cancelled, later steps never run', async () => {
    const { engine } = testEngine()
    let aborted: unknown
    let after = false
    const flow = createWorkflow('c')
      .step(
        'long',
        (ctx) =>
          new Promise<void>((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject((aborted = ctx.signal.reason))),
          ),
      )
      .step('after', () => {
        after = true
      })
    const running = engine.execute(flow, {}, { id: 'c1' })
    await new Promise((r) => setImmediate(r))
    expect(await engine.cancel('c1', 'customer asked')).toBe(true)
    const result = await running
    expect(result.status).toBe('cancelled')
    expect(result.error!.message).toBe('Workflow cancelled: customer asked')
    expect((aborted as Error).message).toBe('Workflow cancelled: customer asked')
    expect(after).toBe(false)
    expect((await engine.get('c1'))!.status).toBe('cancelled')
    expect(await engine.cancel('c1')).toBe(true)
    await expect(engine.cancel('nope')).rejects.toThrow('Workflow not found')
  })

  it('cancels a suspended run; a completed run stays completed', async () => {
    const { engine } = testEngine()
    const { Flux } = await import('../src/index.js')
    const flow = createWorkflow('c2').step('w', () => Flux.wait('go'))
    const { id } = await engine.execute(flow, {})
    expect(await engine.cancel(id)).toBe(true)
    await expect(engine.signal(flow, id, 'go')).rejects.toThrow(
      'Workflow is not suspended (status: cancelled)',
    )
    const done = await engine.execute(
      createWorkflow('c3').step('a', () => {}),
      {},
    )
    expect(await engine.cancel(done.id)).toBe(false)
    expect((await engine.get(done.id))!.status).toBe('completed')
  })
})
