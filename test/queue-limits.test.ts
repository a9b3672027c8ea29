/**
 * Queue limits through the engine (`queueConcurrency`). On MemoryStorage with a fake clock: two
 * engines sharing one store never drive more runs of a capped queue at once than its cap, the
 * other queues are not held back, caps merge and validate, recovery respects them. Then the
 * same across real processes (SQLite: two worker processes on one file) and across
 * PostgresStorage instances with their own pools on one schema.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { createWorkflow, FluxEngine, FluxSilentLogger, MemoryStorage } from '../src/index.js'
import { PostgresStorage } from '../src/postgres.js'
import { FakeClock } from '../src/testing/index.js'
import { engineOn } from './helpers/engine.js'
import { DATABASE_URL, describePg, dropSchema, endAdminPool, uniqueSchema } from './helpers/pg-schema.js'
import { tempDir } from './helpers/sqlite-temp.js'

/** A one-step workflow whose step takes `ms` of fake time and records how many run at once, per queue. */
function meteredFlow(clock: FakeClock, ms: number) {
  const active = new Map<string, number>()
  const peak = new Map<string, number>()
  const done: { queue: string; at: number }[] = []
  const flow = createWorkflow('metered')
    .input<{ queue: string }>()
    .step('work', async (ctx) => {
      const { queue } = ctx.input
      const now = (active.get(queue) ?? 0) + 1
      active.set(queue, now)
      peak.set(queue, Math.max(peak.get(queue) ?? 0, now))
      await new Promise<void>((resolve) => clock.setTimeout(resolve, ms))
      active.set(queue, (active.get(queue) ?? 1) - 1)
      done.push({ queue, at: clock.now() })
    })
  return { flow, peak, done }
}

describe('queue limits across engines sharing a store', () => {
  it('never drives more than the cap of a queue at once, and holds no other queue back', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const { flow, peak, done } = meteredFlow(clock, 1000)
    const producer = engineOn(storage, clock)
    // The capped queue's runs are older: first in claim order.
    for (let n = 0; n < 30; n++) await producer.enqueue(flow, { queue: 'mail' }, { queue: 'mail' })
    for (let n = 0; n < 30; n++) await producer.enqueue(flow, { queue: 'default' })
    const engines = [0, 1].map(() => engineOn(storage, clock, { workflows: [flow], recoverOnInit: false }))
    const workers = engines.map((e) => e.worker({ concurrency: 10, queueConcurrency: { mail: 3 } }))
    await Promise.all(workers.map((w) => w.start()))
    for (let i = 0; i < 200 && done.length < 60; i++) await clock.advance(250)

    expect(done).toHaveLength(60)
    expect(peak.get('mail')).toBe(3)
    // Twenty slots between the two workers: what mail does not use goes to default.
    expect(peak.get('default')).toBeGreaterThanOrEqual(17)
    const last = (queue: string) => Math.max(...done.filter((d) => d.queue === queue).map((d) => d.at))
    expect(last('default')).toBeLessThan(last('mail'))
    expect(workers.map((w) => w.running)).toEqual([0, 0])
    await Promise.all(engines.map((e) => e.close()))
  })

  it('takes the engine-wide caps as defaults that a worker overrides queue by queue', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const { flow, peak, done } = meteredFlow(clock, 1000)
    const producer = engineOn(storage, clock)
    for (const queue of ['mail', 'sms', 'push'])
      for (let n = 0; n < 8; n++) await producer.enqueue(flow, { queue }, { queue })
    const engine = engineOn(storage, clock, {
      workflows: [flow],
      queueConcurrency: { mail: 1, sms: 2 },
    })
    const worker = engine.worker({ concurrency: 20, queueConcurrency: { sms: 4, push: 0 } })
    await worker.start()
    for (let i = 0; i < 100 && done.length < 16; i++) await clock.advance(250)
    expect(done).toHaveLength(16)
    expect([peak.get('mail'), peak.get('sms'), peak.get('push')]).toEqual([1, 4, undefined])
    await engine.close()
  })

  it('refuses caps that are not whole numbers ≥ 0', () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    expect(() => engineOn(storage, clock, { queueConcurrency: { mail: -1 } })).toThrow(TypeError)
    const engine = engineOn(storage, clock)
    expect(() => engine.worker({ queueConcurrency: { mail: 1.5 } })).toThrow(/whole number/)
    expect(() => engine.worker({ queueConcurrency: { mail: Number.NaN } })).toThrow(TypeError)
    expect(() => engine.worker({ queueConcurrency: { mail: Number.POSITIVE_INFINITY } })).not.toThrow()
  })

  it('recover() takes over orphans of a capped queue only up to its cap', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const { flow, peak, done } = meteredFlow(clock, 1000)
    const producer = engineOn(storage, clock)
    const ids: string[] = []
    for (let n = 0; n < 5; n++) ids.push(await producer.enqueue(flow, { queue: 'mail' }, { queue: 'mail' }))
    // Their owner died mid-run: running, with a lease that has expired.
    for (const id of ids) {
      const run = (await storage.getRun(id))!
      await storage.replaceRun({
        run: {
          ...run,
          status: 'running',
          leaseOwner: 'dead',
          leaseToken: 'dead/1',
          leaseExpiresAt: clock.now() - 1,
        },
        checkpoints: [],
      })
    }
    const rescuer = engineOn(storage, clock, {
      workflows: [flow],
      recoverOnInit: false,
      queueConcurrency: { mail: 2 },
    })
    const recovering = rescuer.recover()
    await clock.advance(1000)
    expect(await recovering).toHaveLength(2)
    expect(done).toHaveLength(2)
    // The rest is left to workers, under the same cap.
    await rescuer.start()
    for (let i = 0; i < 50 && done.length < 5; i++) await clock.advance(250)
    expect(done).toHaveLength(5)
    expect(peak.get('mail')).toBe(2)
    await rescuer.close()
  })
})

const temp = tempDir('fluxflow-queue-limits')
afterAll(async () => {
  temp.remove()
  await endAdminPool()
})

const CHILD = join(import.meta.dirname, 'helpers', 'queue-limits-child.ts')

interface Child {
  ready: Promise<void>
  done: Promise<void>
  go(): void
}

function child(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  let markReady: () => void = () => undefined
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  proc.stdout.on('data', (chunk) => {
    out += chunk
    if (out.includes('ready\n')) markReady()
  })
  proc.stderr.on('data', (chunk) => (err += chunk))
  const done = new Promise<void>((resolve, reject) => {
    proc.on('error', reject)
    proc.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`child exited with ${code}: ${err}`)),
    )
  })
  return { ready: Promise.race([ready, done]), done, go: () => proc.stdin.end('go\n') }
}

interface Event {
  queue: string
  event: 'start' | 'end'
  t: number
  pid: number
}

/** The most steps of each queue that were between their start and end at one moment. */
function peaks(events: Event[]): Map<string, number> {
  // On a tie an end comes first: a run's step ends before its lease is released, and the next
  // run's claim (and step) can only come after that.
  const sorted = [...events].sort((a, b) => a.t - b.t || (a.event === 'end' ? -1 : 1))
  const now = new Map<string, number>()
  const peak = new Map<string, number>()
  for (const e of sorted) {
    const n = (now.get(e.queue) ?? 0) + (e.event === 'start' ? 1 : -1)
    now.set(e.queue, n)
    peak.set(e.queue, Math.max(peak.get(e.queue) ?? 0, n))
  }
  return peak
}

/** Enqueues 30 runs on mail and 30 on default, then runs two worker processes together. */
async function twoProcesses(concurrency: number): Promise<Event[]> {
  const db = temp.file()
  const log = temp.file(`steps-${concurrency}.ndjson`)
  await child([db, log, 'enqueue', '30']).done
  const workers = [0, 1].map(() => child([db, log, 'work', '60', String(concurrency)]))
  await Promise.all(workers.map((w) => w.ready))
  for (const w of workers) w.go()
  await Promise.all(workers.map((w) => w.done))
  const events = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Event)
  expect(events.filter((e) => e.event === 'end')).toHaveLength(60)
  return events
}

const mailPids = (events: Event[]) => new Set(events.filter((e) => e.queue === 'mail').map((e) => e.pid))

describe('SQLite: two worker processes on one file, { mail: 3 }', () => {
  it('concurrency 10 each: never more than 3 mail runs at once, default not held back', async () => {
    const peak = peaks(await twoProcesses(10))
    expect(peak.get('mail')).toBe(3)
    expect(peak.get('default')).toBeGreaterThanOrEqual(10)
  }, 60_000)

  it('concurrency 2 each: the cap is shared, mail runs in both processes and never above 3', async () => {
    const events = await twoProcesses(2)
    expect(mailPids(events).size).toBe(2)
    expect(peaks(events).get('mail')).toBeLessThanOrEqual(3)
  }, 60_000)
})

describePg('Postgres: two storages with their own pools on one schema, { mail: 3 }', () => {
  /** Runs 30 mail and 30 default runs on two engines; per queue, the peak and who ran them. */
  async function twoEngines(concurrency: number) {
    const schema = uniqueSchema('ql')
    const active = new Map<string, number>()
    const peak = new Map<string, number>()
    const mailBy = new Set<number>()
    let completed = 0
    // One definition per engine (same name and steps, so the same key), to know who ran what.
    const flows = [0, 1].map((engine) =>
      createWorkflow('metered')
        .input<{ queue: string }>()
        .step('work', async (ctx) => {
          const { queue } = ctx.input
          const n = (active.get(queue) ?? 0) + 1
          active.set(queue, n)
          peak.set(queue, Math.max(peak.get(queue) ?? 0, n))
          if (queue === 'mail') mailBy.add(engine)
          await sleep(queue === 'mail' ? 60 : 20)
          active.set(queue, (active.get(queue) ?? 1) - 1)
          completed++
        }),
    )
    const engines = flows.map(
      (flow) =>
        new FluxEngine({
          storage: new PostgresStorage({ connectionString: DATABASE_URL, schema, max: 6 }),
          logger: new FluxSilentLogger(),
          workflows: [flow],
          pollInterval: 20,
          recoverOnInit: false,
        }),
    )
    try {
      for (const queue of ['mail', 'default'])
        for (let n = 0; n < 30; n++) await engines[0]!.enqueue(flows[0]!, { queue }, { queue })
      const workers = engines.map((e) => e.worker({ concurrency, queueConcurrency: { mail: 3 } }))
      await Promise.all(workers.map((w) => w.start()))
      for (let i = 0; i < 1500 && completed < 60; i++) await sleep(20)
      expect(completed).toBe(60)
      return { peak, mailBy }
    } finally {
      await Promise.all(engines.map((e) => e.close()))
      await dropSchema(schema)
    }
  }

  it('concurrency 10 each: never more than 3 mail runs at once, default not held back', async () => {
    const { peak } = await twoEngines(10)
    expect(peak.get('mail')).toBe(3)
    expect(peak.get('default')).toBeGreaterThanOrEqual(10)
  }, 60_000)

  it('concurrency 2 each: the cap is shared, mail runs on both and never above 3', async () => {
    const { peak, mailBy } = await twoEngines(2)
    expect(mailBy.size).toBe(2)
    expect(peak.get('mail')).toBeLessThanOrEqual(3)
  }, 60_000)
})
