import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../src/engine/retry.js'
import { createWorkflow, Flux, NonRetryableError, RetryableError, StepTimeoutError } from '../src/index.js'
import { testEngine } from './helpers/engine.js'

function deferred() {
  let resolve: () => void = () => {}
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe('retries and backoff', () => {
  it('computes min(max, initial·factor^(n−1)) with full jitter by default', () => {
    const e = new Error('x')
    const o = { initial: 100, factor: 3, max: 1000 }
    expect([1, 2, 3, 4].map((n) => backoffDelay({ ...o, jitter: false }, {}, n, e))).toEqual([
      100, 300, 900, 1000,
    ])
    expect([1, 2, 3].map((n) => backoffDelay(o, {}, n, e, () => 0.5))).toEqual([50, 150, 450])
    expect(backoffDelay(o, {}, 2, e, () => 0)).toBe(0)
    expect(backoffDelay(undefined, {}, 1, e, () => 0.999)).toBe(999)
    expect(backoffDelay(undefined, {}, 10, e, () => 1)).toBe(30_000)
    expect(backoffDelay((n, err) => n * 7 + err.message.length, {}, 2, e)).toBe(15)
    expect(backoffDelay(o, {}, 1, new RetryableError('later', { retryAfter: 4242 }))).toBe(4242)
  })

  it('retries after durable backoff on the injected clock, recording attempts', async () => {
    const { engine, clock } = testEngine()
    const attempts: [number, number][] = []
    const flow = createWorkflow('flaky').step(
      'call',
      (ctx) => {
        attempts.push([ctx.attempt, clock.now()])
        if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`)
        ctx.data.ok = ctx.attempt
      },
      { retries: 3, backoff: { initial: 1000, factor: 2, jitter: false } },
    )
    const t0 = clock.now()
    const running = engine.execute(flow, {})
    await clock.advance(999)
    expect(attempts.map(([a]) => a)).toEqual([1])
    const stored = await engine.get((await engine.list())[0]!.id)
    expect(stored!.history[0]!.attempts).toBe(1)
    expect(stored!.history[0]!.error).toBe('fail 1')
    expect(stored!.history[0]!.wakeAt!.getTime()).toBe(t0 + 1000)
    await clock.advance(1)
    expect(attempts.map(([a]) => a)).toEqual([1, 2])
    await clock.advance(2000)
    const result = await running
    expect(attempts).toEqual([
      [1, t0],
      [2, t0 + 1000],
      [3, t0 + 3000],
    ])
    expect(result.status).toBe('completed')
    expect(result.data).toEqual({ ok: 3 })
    expect(result.history[0]).toMatchObject({ status: 'completed', attempts: 3, retries: 2 })
    expect(result.history[0]!.error).toBeUndefined()
  })

  it('uses the engine defaults: 3 retries, 1 s doubling with full jitter', async () => {
    const { engine, clock } = testEngine({ random: () => 0.5 })
    const times: number[] = []
    const flow = createWorkflow('d').step('x', () => {
      times.push(clock.now())
      throw new Error('always')
    })
    const running = engine.execute(flow, {})
    await clock.runAll()
    const result = await running
    expect(result.status).toBe('failed')
    expect(result.history[0]).toMatchObject({ status: 'failed', attempts: 4, retries: 3, error: 'always' })
    expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([500, 1000, 2000])
  })

  it('makes errors final at once: Flux.fail, NonRetryableError, retryIf', async () => {
    const { engine } = testEngine()
    let calls = 0
    const viaFail = createWorkflow('a').step(
      'x',
      () => {
        calls++
        Flux.fail('business rule')
      },
      { retries: 5 },
    )
    const r1 = await engine.execute(viaFail, {})
    expect([r1.status, calls, r1.history[0]!.attempts]).toEqual(['failed', 1, 1])
    expect(r1.error).toBeInstanceOf(NonRetryableError)
    expect(r1.error!.message).toBe('business rule')

    calls = 0
    const viaThrow = createWorkflow('b').step(
      'x',
      () => {
        calls++
        throw new NonRetryableError('no')
      },
      { retries: 5 },
    )
    expect((await engine.execute(viaThrow, {})).status).toBe('failed')
    expect(calls).toBe(1)

    calls = 0
    const viaRetryIf = createWorkflow('c').step(
      'x',
      () => {
        calls++
        throw new TypeError('bad shape')
      },
      { retries: 5, retryIf: (e) => !(e instanceof TypeError) },
    )
    const r3 = await engine.execute(viaRetryIf, {})
    expect([r3.status, calls]).toEqual(['failed', 1])
    expect(r3.error).toBeInstanceOf(TypeError)
  })

  it('honours RetryableError.retryAfter over the backoff', async () => {
    const { engine, clock } = testEngine()
    const times: number[] = []
    const flow = createWorkflow('r').step(
      'x',
      (ctx) => {
        times.push(clock.now())
        if (ctx.attempt === 1) throw new RetryableError('rate limited', { retryAfter: 7000 })
      },
      { retries: 1, backoff: { initial: 10, jitter: false } },
    )
    const running = engine.execute(flow, {})
    await clock.advance(7000)
    expect((await running).status).toBe('completed')
    expect(times[1]! - times[0]!).toBe(7000)
  })
})

describe('timeouts', () => {
  it('aborts ctx.signal, fails the attempt with StepTimeoutError, and retries', async () => {
    const { engine, clock } = testEngine()
    const reasons: unknown[] = []
    const flow = createWorkflow('t').step(
      'slow',
      async (ctx) => {
        if (ctx.attempt === 1) {
          await new Promise<void>((_, reject) => {
            ctx.signal.addEventListener('abort', () => {
              reasons.push(ctx.signal.reason)
              reject(ctx.signal.reason)
            })
          })
        }
        ctx.data.attempt = ctx.attempt
      },
      { timeout: 5000, retries: 1, backoff: { initial: 100, jitter: false } },
    )
    const running = engine.execute(flow, {})
    await clock.advance(5000)
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toBeInstanceOf(StepTimeoutError)
    expect((reasons[0] as Error).message).toBe('Step timeout')
    await clock.advance(100)
    const result = await running
    expect(result.status).toBe('completed')
    expect(result.data).toEqual({ attempt: 2 })
    expect(result.history[0]!.attempts).toBe(2)
  })

  it('a timed-out attempt that writes ctx.data late never reaches the result or storage', async () => {
    const { engine, clock } = testEngine()
    const gate = deferred()
    const flow = createWorkflow('late')
      .step('first', (ctx) => {
        ctx.data.kept = { n: 1 }
      })
      .step(
        'slow',
        async (ctx) => {
          const kept = ctx.data.kept
          await gate.promise
          ctx.data.late = true
          kept.n = 999
        },
        { timeout: 1000, retries: 0 },
      )
    const running = engine.execute(flow, {})
    await clock.advance(1000)
    const result = await running
    expect(result.status).toBe('failed')
    expect(result.error).toBeInstanceOf(StepTimeoutError)
    expect(result.history[1]!.error).toBe('Step timeout')
    gate.resolve()
    await new Promise((r) => setImmediate(r))
    expect(result.data).toEqual({ kept: { n: 1 } })
    expect((await engine.get(result.id))!.data).toEqual({ kept: { n: 1 } })
  })

  it('a late write of a timed-out attempt does not leak into the retry that succeeds', async () => {
    const { engine, clock } = testEngine()
    const gate = deferred()
    const flow = createWorkflow('late2').step(
      'slow',
      async (ctx) => {
        if (ctx.attempt === 1) {
          await gate.promise
          ctx.data.fromFirst = true
          return
        }
        ctx.data.fromSecond = true
      },
      { timeout: 1000, retries: 1, backoff: { initial: 10, jitter: false } },
    )
    const running = engine.execute(flow, {})
    await clock.advance(1010)
    const result = await running
    gate.resolve()
    await new Promise((r) => setImmediate(r))
    expect(result.data).toEqual({ fromSecond: true })
    expect((await engine.get(result.id))!.data).toEqual({ fromSecond: true })
  })

  it('uses defaultTimeout for steps that set none', async () => {
    const { engine, clock } = testEngine({ defaultTimeout: 200, defaultRetries: 0 })
    const flow = createWorkflow('dt').step('hang', () => new Promise<void>(() => {}))
    const running = engine.execute(flow, {})
    await clock.advance(200)
    const result = await running
    expect(result.status).toBe('failed')
    expect(result.error).toBeInstanceOf(StepTimeoutError)
  })
})

describe('when', () => {
  it('skips a step whose condition is false and records it once', async () => {
    const { engine } = testEngine()
    let evaluations = 0
    const ran: string[] = []
    const flow = createWorkflow('branch')
      .step('classify', (ctx) => {
        ctx.data.route = 'manual'
      })
      .step('auto', () => void ran.push('auto'), {
        when: (ctx) => {
          evaluations++
          return ctx.data.route === 'auto'
        },
      })
      .step('manual', () => void ran.push('manual'), { when: (ctx) => ctx.data.route === 'manual' })
    const result = await engine.execute(flow, {})
    expect(ran).toEqual(['manual'])
    expect(evaluations).toBe(1)
    expect(result.history.map((h) => h.status)).toEqual(['completed', 'skipped', 'completed'])
    const resumed = await engine.resume(flow, result.id)
    expect(resumed!.history.map((h) => h.status)).toEqual(['completed', 'skipped', 'completed'])
    expect(evaluations).toBe(1)
  })

  it('fails the step when the condition throws', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('w').step('x', () => {}, {
      when: () => {
        throw new Error('bad predicate')
      },
    })
    const result = await engine.execute(flow, {})
    expect(result.status).toBe('failed')
    expect(result.error!.message).toBe('bad predicate')
  })
})
