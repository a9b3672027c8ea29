/**
 * LISTEN/NOTIFY on a real server: idle subscribers wake within milliseconds of a run becoming due
 * in another storage instance, and the listener survives its backend being terminated.
 */
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../src/index.js'
import type { StoreEvent } from '../src/storage/contract.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { sampleRun } from '../src/testing/index.js'
import {
  adminPool,
  DATABASE_URL,
  describePg,
  dropSchema,
  endAdminPool,
  uniqueSchema,
} from './helpers/pg-schema.js'

const A = { owner: 'w', token: 'w/1', expiresAt: 9e12 }
let schema: string
let listener: PostgresStorage
let writer: PostgresStorage
let warnings: string[]

beforeEach(async () => {
  // Mixed case: the channel and LISTEN must keep the schema's case.
  schema = uniqueSchema('Notify')
  warnings = []
  listener = new PostgresStorage({
    connectionString: DATABASE_URL,
    schema,
    max: 3,
    warn: (m) => warnings.push(m),
  })
  writer = new PostgresStorage({ connectionString: DATABASE_URL, schema, max: 3 })
  await listener.init()
  await writer.init()
})

afterEach(async () => {
  await Promise.all([listener.close(), writer.close()])
  await dropSchema(schema)
})

afterAll(endAdminPool)

/** Collects events and waits for the next one matching a predicate. */
function inbox() {
  const events: StoreEvent[] = []
  let waiter: (() => void) | undefined
  return {
    events,
    push(event: StoreEvent) {
      events.push(event)
      waiter?.()
    },
    async next(match: (e: StoreEvent) => boolean, timeoutMs = 2_000): Promise<StoreEvent> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const index = events.findIndex(match)
        if (index >= 0) return events.splice(index, 1)[0]!
        const left = deadline - Date.now()
        if (left <= 0)
          throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`)
        await new Promise<void>((resolve) => {
          waiter = resolve
          setTimeout(resolve, left)
        })
      }
    },
  }
}

async function listenerPids(): Promise<number[]> {
  const { rows } = await adminPool().query(`SELECT pid FROM pg_stat_activity WHERE query = $1`, [
    `LISTEN "${schema}"`,
  ])
  return rows.map((r: { pid: number }) => r.pid)
}

describePg('PostgresStorage: LISTEN/NOTIFY', () => {
  it('wakes a subscriber when another instance creates a pending run or delivers a signal', async () => {
    const box = inbox()
    const unsubscribe = await listener.subscribe((e) => box.push(e))
    await writer.createRun({ run: sampleRun('busy'), lease: A }) // running: nothing to wake for
    let started = performance.now()
    await writer.createRun({ run: sampleRun('p1', { status: 'pending' }) })
    expect(await box.next(() => true)).toEqual({ kind: 'run', id: 'p1' })
    const createMs = performance.now() - started
    await writer.createRun({ run: sampleRun('w1', { status: 'suspended', waitingFor: 'go' }) })
    started = performance.now()
    await writer.deliverSignal({ id: 'w1', name: 'go', payload: '[1]', now: 1 })
    expect(await box.next(() => true)).toEqual({ kind: 'signal', id: 'w1' })
    const signalMs = performance.now() - started
    console.info(
      `[pg] NOTIFY wake: createRun ${createMs.toFixed(1)} ms, deliverSignal ${signalMs.toFixed(1)} ms`,
    )
    expect(box.events).toEqual([])
    await unsubscribe()
  })

  it('wakes on release and on a park with a timer, and not on completion', async () => {
    const box = inbox()
    const unsubscribe = await listener.subscribe((e) => box.push(e))
    await writer.createRun({ run: sampleRun('r1'), lease: A })
    await writer.createRun({ run: sampleRun('r2'), lease: A })
    await writer.createRun({ run: sampleRun('r3'), lease: A })
    await writer.checkpoint({ id: 'r3', token: 'w/1', now: 1, patch: { status: 'completed' }, release: true })
    await writer.release({ id: 'r1', token: 'w/1', now: 2 })
    expect(await box.next(() => true)).toEqual({ kind: 'run', id: 'r1' })
    await writer.park({
      id: 'r2',
      token: 'w/1',
      now: 3,
      patch: { status: 'suspended', wakeAt: 1_000 },
      unlessSignal: 'never',
      release: true,
    })
    expect(await box.next(() => true)).toEqual({ kind: 'timer', id: 'r2' })
    expect(box.events).toEqual([])
    await unsubscribe()
  })

  it('fans out to every subscriber on one connection, which the last unsubscribe ends', async () => {
    const one = inbox()
    const two = inbox()
    const offOne = await listener.subscribe((e) => one.push(e))
    const offTwo = await listener.subscribe((e) => two.push(e))
    expect(await listenerPids()).toHaveLength(1)
    await writer.createRun({ run: sampleRun('p1', { status: 'pending' }) })
    await one.next((e) => e.id === 'p1')
    await two.next((e) => e.id === 'p1')
    await offOne()
    await offOne() // idempotent
    await writer.createRun({ run: sampleRun('p2', { status: 'pending' }) })
    await two.next((e) => e.id === 'p2')
    expect(one.events).toEqual([])
    await offTwo()
    for (let i = 0; i < 100 && (await listenerPids()).length > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await listenerPids()).toEqual([])
  })

  it('reconnects after its backend is terminated and keeps delivering', async () => {
    const box = inbox()
    const unsubscribe = await listener.subscribe((e) => box.push(e))
    const [pid] = await listenerPids()
    expect(pid).toBeDefined()
    await adminPool().query('SELECT pg_terminate_backend($1)', [pid])
    // After reconnecting it emits one wake-up for what it may have missed while down.
    expect(await box.next(() => true, 10_000)).toEqual({ kind: 'run' })
    const pids = await listenerPids()
    expect(pids).toHaveLength(1)
    expect(pids[0]).not.toBe(pid)
    expect(warnings.some((w) => w.includes('reconnecting'))).toBe(true)
    await writer.createRun({ run: sampleRun('after', { status: 'pending' }) })
    expect(await box.next(() => true)).toEqual({ kind: 'run', id: 'after' })
    // Writes still work on the listener's storage: its pool replaced nothing it needed.
    expect((await listener.getRun('after'))?.status).toBe('pending')
    await unsubscribe()
  })

  it('wakes an idle engine worker in another process-like instance, long before its next poll', async () => {
    const flow = createWorkflow('pg-wake').step('only', (ctx) => {
      ctx.data.done = true
    })
    const quiet = { logger: new FluxSilentLogger(), workflows: [flow], recoverOnInit: false }
    const workers = new FluxEngine({ ...quiet, storage: listener, pollInterval: 60_000 })
    const web = new FluxEngine({ ...quiet, storage: writer })
    const worker = workers.worker({ workflows: [flow], concurrency: 2 })
    await worker.start()
    await new Promise((resolve) => setTimeout(resolve, 100)) // the worker has polled once and sleeps
    const started = performance.now()
    const id = await web.enqueue(flow, {})
    for (;;) {
      const state = await web.get(id)
      if (state?.status === 'completed') break
      if (performance.now() - started > 10_000) throw new Error(`run still ${state?.status} after 10 s`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    console.info(
      `[pg] enqueue → completed by a NOTIFY-woken worker: ${(performance.now() - started).toFixed(0)} ms`,
    )
    await worker.stop()
    // Each engine took its own reference (init); closing them leaves the test's reference open.
    await Promise.all([workers.close(), web.close()])
    expect((await listener.getRun(id))?.status).toBe('completed')
  })
})
