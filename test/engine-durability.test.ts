import { describe, expect, it } from 'vitest'
import { createWorkflow, Flux, MemoryStorage } from '../src/index.js'
import { FakeClock } from '../src/testing/index.js'
import { engineOn, testEngine } from './helpers/engine.js'

describe('durable sleep', () => {
  it('Flux.sleep parks the run with a stored wake time; execute continues it when due', async () => {
    const { engine, clock, storage } = testEngine()
    const t0 = clock.now()
    const times: number[] = []
    const flow = createWorkflow('nap')
      .step('before', () => void times.push(clock.now()))
      .step('sleep', () => Flux.sleep(60_000))
      .step('after', () => void times.push(clock.now()))
    const running = engine.execute(flow, {}, { id: 'nap-1' })
    await clock.advance(1)
    const parked = await storage.getRun('nap-1')
    expect([parked!.status, parked!.wakeAt, parked!.leaseToken]).toEqual(['suspended', t0 + 60_000, null])
    await clock.advance(59_999)
    const result = await running
    expect(result.status).toBe('completed')
    expect(times).toEqual([t0, t0 + 60_000])
    expect(result.history[1]!.status).toBe('completed')
  })

  it('Flux.sleepUntil parks until a date', async () => {
    const { engine, clock } = testEngine()
    const until = new Date(clock.now() + 5000)
    const flow = createWorkflow('until')
      .step('s', () => Flux.sleepUntil(until))
      .step('x', (ctx) => void (ctx.data.at = clock.now()))
    const running = engine.execute(flow, {})
    await clock.advance(5000)
    expect((await running).data).toEqual({ at: until.getTime() })
  })

  it('a sleeping run left by a dead process is woken on time by another engine', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const flow = createWorkflow('nap2')
      .step('sleep', () => Flux.sleep(30_000))
      .step('after', (ctx) => void (ctx.data.wokeAt = clock.now()))
    const dead = engineOn(storage, clock)
    // This engine is abandoned mid-run; its execute() never settles usefully.
    dead.execute(flow, {}, { id: 'n2' }).catch(() => undefined)
    await clock.advance(1)
    // The first engine is gone (never called again); a new one starts its worker loop.
    const next = engineOn(storage, clock, { workflows: [flow] })
    await next.start()
    await clock.advance(29_000)
    expect((await storage.getRun('n2'))!.status).toBe('suspended')
    await clock.advance(1500)
    const run = await next.get('n2')
    expect(run!.status).toBe('completed')
    expect(run!.data.wokeAt).toBeGreaterThanOrEqual(clock.now() - 1500)
    await next.close()
  })
})

describe('leases and recovery', () => {
  it('a second engine never runs a run whose lease is being renewed', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    let runs = 0
    const flow = createWorkflow('long').step(
      'work',
      async () => {
        runs++
        await gate
      },
      { timeout: Number.POSITIVE_INFINITY },
    )
    const owner = engineOn(storage, clock)
    const running = owner.execute(flow, {}, { id: 'L' })
    await clock.advance(1)
    const other = engineOn(storage, clock, { workflows: [flow] })
    for (let i = 0; i < 10; i++) {
      await clock.advance(5000)
      expect(await other.recover()).toEqual([])
    }
    expect(runs).toBe(1)
    release()
    expect((await running).status).toBe('completed')
    expect(runs).toBe(1)
  })

  it('recover() takes over a run whose owner died, after the lease expires, without repeating completed steps', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const calls: string[] = []
    const flow = createWorkflow('resilient')
      .step('one', () => void calls.push('one'))
      .commit('two', () => void calls.push('two'))
      .step('three', () => {
        calls.push('three')
        return new Promise<void>(() => {}) // the owner hangs here, then "dies"
      })
    const dead = engineOn(storage, clock)
    // This engine is abandoned mid-run; its execute() never settles usefully.
    dead.execute(flow, {}, { id: 'R' }).catch(() => undefined)
    await clock.advance(1)
    expect(calls).toEqual(['one', 'two', 'three'])

    const healed = createWorkflow('resilient')
      .step('one', () => void calls.push('one again'))
      .commit('two', () => void calls.push('two again'))
      .step('three', () => void calls.push('three again'))
    const rescuer = engineOn(storage, clock, { workflows: [healed] })
    expect(await rescuer.recover()).toEqual([]) // lease still valid
    // The dead engine no longer renews: simulate by closing its timers away.
    await dead.close().catch(() => undefined)
    await storage.release({ id: 'R', token: 'nobody', now: clock.now() })
    await clock.advance(10_001)
    const recovered = await rescuer.recover()
    expect(recovered).toEqual(['R'])
    expect(calls).toEqual(['one', 'two', 'three', 'three again'])
    expect((await rescuer.get('R'))!.status).toBe('completed')
  })

  it('a restarted process with the same workerId takes its runs over at once', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const calls: string[] = []
    const flow = createWorkflow('same-id').step('a', () => {
      calls.push('a')
      return calls.length === 1 ? new Promise<void>(() => {}) : undefined
    })
    const first = engineOn(storage, clock, { workerId: 'node-7' })
    // This engine is abandoned mid-run; its execute() never settles usefully.
    first.execute(flow, {}, { id: 'S' }).catch(() => undefined)
    await clock.advance(1)
    const second = engineOn(storage, clock, { workerId: 'node-7', workflows: [flow] })
    expect(await second.recover()).toEqual(['S'])
    expect(calls).toEqual(['a', 'a'])
    expect((await second.get('S'))!.status).toBe('completed')
    const stranger = engineOn(storage, clock, { workerId: 'node-8', workflows: [flow] })
    expect(await stranger.recover()).toEqual([])
  })

  it('an engine that lost its lease stops writing: the new owner finishes and nothing is overwritten', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const calls: string[] = []
    const flow = createWorkflow('fenced')
      .step('slow', async (ctx) => {
        calls.push(`slow#${ctx.attempt}`)
        if (calls.length === 1) await gate
        ctx.data.by = calls.length === 1 ? 'first' : 'second'
      })
      .step('end', () => void calls.push('end'))
    // Leases that are never renewed: this owner's renewal timer is starved by a huge leaseMs, then
    // its lease is taken over by force via an expired lease.
    const stale = engineOn(storage, clock, { leaseMs: 1000 })
    const staleRun = stale.execute(flow, {}, { id: 'F' })
    await clock.advance(1)
    await storage.renewLeases({ token: 'x', ids: [], now: clock.now(), expiresAt: 0 })
    // Force-expire: rewrite the lease as expired and let a rival claim it.
    const rival = engineOn(storage, clock, { leaseMs: 60_000, workflows: [flow] })
    const snap = await storage.getRun('F')
    await storage.claimRun({
      id: 'F',
      lease: { owner: 'thief', token: 'thief/1', expiresAt: clock.now() + 60_000 },
      now: (snap!.leaseExpiresAt ?? 0) + 1,
    })
    await storage.release({ id: 'F', token: 'thief/1', now: clock.now() })
    expect(await rival.recover()).toEqual(['F'])
    release()
    await clock.advance(5000)
    const late = await staleRun
    expect(late.status).toBe('completed')
    const stored = await rival.get('F')
    expect(stored!.data).toEqual({ by: 'second' })
    expect(calls.filter((c) => c === 'end')).toHaveLength(1)
  })
})

describe('workers', () => {
  it('enqueue runs nothing here; a worker with concurrency runs the queue', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const done: number[] = []
    let inFlight = 0
    let maxInFlight = 0
    const flow = createWorkflow('job')
      .input<{ n: number }>()
      .step('work', async (ctx) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await Promise.resolve()
        await new Promise((r) => setImmediate(r))
        inFlight--
        done.push(ctx.input.n)
      })
    const producer = engineOn(storage, clock)
    for (let n = 0; n < 20; n++) await producer.enqueue(flow, { n }, { priority: n === 19 ? 10 : 0 })
    expect(done).toEqual([])
    const consumer = engineOn(storage, clock, { workflows: [flow] })
    const worker = consumer.worker({ concurrency: 3, pollInterval: 100 })
    await worker.start()
    for (let i = 0; i < 50 && done.length < 20; i++) await clock.advance(100)
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(maxInFlight).toBeLessThanOrEqual(3)
    await worker.stop()
    await consumer.close()
  })

  it('respects an enqueue delay', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const ran: number[] = []
    const flow = createWorkflow('later').step('x', () => void ran.push(clock.now()))
    const engine = engineOn(storage, clock, { workflows: [flow] })
    const t0 = clock.now()
    await engine.enqueue(flow, {}, { delay: 5000 })
    await engine.start()
    await clock.advance(4000)
    expect(ran).toEqual([])
    await clock.advance(1500)
    expect(ran).toHaveLength(1)
    expect(ran[0]! - t0).toBeGreaterThanOrEqual(5000)
    await engine.close()
  })
})

describe('executeBatch', () => {
  it('runs inputs with bounded concurrency and reports progress in order', async () => {
    const { engine } = testEngine()
    let inFlight = 0
    let max = 0
    const flow = createWorkflow('b')
      .input<{ n: number }>()
      .step(
        'x',
        async (ctx) => {
          inFlight++
          max = Math.max(max, inFlight)
          await new Promise((r) => setImmediate(r))
          inFlight--
          if (ctx.input.n === 3) throw new Error('three')
          ctx.data.double = ctx.input.n * 2
        },
        { retries: 0 },
      )
    const progress: number[] = []
    const result = await engine.executeBatch(
      flow,
      [1, 2, 3, 4, 5].map((n) => ({ n })),
      {
        concurrency: 2,
        onProgress: (completed) => void progress.push(completed),
      },
    )
    expect(max).toBe(2)
    expect([result.total, result.succeeded, result.failed]).toEqual([5, 4, 1])
    expect(result.results.map((r) => r.success)).toEqual([true, true, false, true, true])
    expect(result.results[1]!.result!.data).toEqual({ double: 4 })
    expect(result.results[2]!.error!.message).toBe('three')
    expect(progress).toEqual([1, 2, 3, 4, 5])
    const controller = new AbortController()
    controller.abort()
    const aborted = await engine.executeBatch(flow, [{ n: 1 }], { signal: controller.signal })
    expect(aborted.results[0]!.error!.message).toBe('Execution aborted')
  })
})
