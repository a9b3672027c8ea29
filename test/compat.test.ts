import { describe, expect, it } from 'vitest'
import {
  createWorkflow,
  Flux,
  FluxEngine,
  FluxSilentLogger,
  type GravitoCoreLike,
  MemoryStorage,
  OrbitFlux,
  type WorkflowFilter,
  type WorkflowState,
  type WorkflowStorage,
} from '../src/index.js'
import { FakeClock, mockSteps } from '../src/testing/index.js'

/** An origin-style storage: only save/load/list/delete, keeping JSON like a user's database would. */
class OriginStyleStorage implements WorkflowStorage {
  readonly rows = new Map<string, string>()
  saves = 0
  async save(state: WorkflowState) {
    this.saves++
    this.rows.set(state.id, JSON.stringify(state))
  }
  async load(id: string) {
    const row = this.rows.get(id)
    if (!row) return null
    const s = JSON.parse(row)
    return { ...s, createdAt: new Date(s.createdAt), updatedAt: new Date(s.updatedAt) } as WorkflowState
  }
  async list(filter?: WorkflowFilter) {
    const all = await Promise.all([...this.rows.keys()].map((id) => this.load(id)))
    return all.filter((s): s is WorkflowState => s !== null && (!filter?.name || s.name === filter.name))
  }
  async delete(id: string) {
    this.rows.delete(id)
  }
}

describe('origin-style storage (save/load/list/delete only)', () => {
  it('backs in-process runs and receives every checkpoint as a WorkflowState', async () => {
    const storage = new OriginStyleStorage()
    const engine = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const flow = createWorkflow('legacy')
      .step('a', (ctx) => void (ctx.data.a = 1))
      .step('wait', () => Flux.wait('go'))
      .step('b', (ctx) => void (ctx.data.b = ctx.signals.go))
    const first = await engine.execute(flow, { x: 1 })
    expect(first.status).toBe('suspended')
    const saved = JSON.parse(storage.rows.get(first.id)!)
    expect([saved.status, saved.name, saved.data, saved.currentStep]).toEqual([
      'suspended',
      'legacy',
      { a: 1 },
      1,
    ])
    expect(storage.saves).toBeGreaterThanOrEqual(3)

    // A fresh engine (another process) finds the run in the user's storage and continues it.
    const later = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const done = await later.signal(flow, first.id, 'go', 'yes')
    expect(done.status).toBe('completed')
    expect(done.data).toEqual({ a: 1, b: 'yes' })
    expect(JSON.parse(storage.rows.get(first.id)!).status).toBe('completed')
    expect((await later.list({ name: 'legacy' })).map((s) => s.id)).toEqual([first.id])
  })
})

describe('MemoryStorage', () => {
  it('keeps the origin save/load/list/delete interface', async () => {
    const storage = new MemoryStorage()
    const engine = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const { id } = await engine.execute(
      createWorkflow('m').step('a', (ctx) => void (ctx.data.v = 1)),
      {},
    )
    const state = await storage.load(id)
    expect([state!.status, state!.data]).toEqual(['completed', { v: 1 }])
    await storage.save({ ...state!, id: 'copy', data: { v: 2 } })
    expect((await storage.load('copy'))!.data).toEqual({ v: 2 })
    expect((await storage.list({ name: 'm' })).map((s) => s.id).sort()).toEqual(['copy', id].sort())
    await storage.delete('copy')
    expect(await storage.load('copy')).toBeNull()
  })

  it('close() keeps the data for another engine that still reads it', async () => {
    const storage = new MemoryStorage()
    const a = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const b = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const { id } = await a.execute(
      createWorkflow('m').step('a', () => {}),
      {},
    )
    await a.close()
    await a.close()
    expect((await b.get(id))!.status).toBe('completed')
    await expect(
      a.execute(
        createWorkflow('m').step('a', () => {}),
        {},
      ),
    ).rejects.toThrow('FluxEngine is closed')
  })
})

describe('OrbitFlux', () => {
  function fakeCore(shape: 'services' | 'container') {
    const registered = new Map<string, unknown>()
    const actions: [string, unknown][] = []
    const logs: string[] = []
    const core: GravitoCoreLike = {
      logger: {
        info: (m: string) => void logs.push(`info ${m}`),
        warn: (m: string) => void logs.push(`warn ${m}`),
        debug: () => {},
        error: () => {},
      },
      hooks: { doAction: (name: string, payload: unknown) => void actions.push([name, payload]) },
      ...(shape === 'services'
        ? { services: { set: (k: string, v: unknown) => void registered.set(k, v) } }
        : { container: { instance: (k: string, v: unknown) => void registered.set(k, v) } }),
    }
    return { core, registered, actions, logs }
  }

  it('registers the engine under exposeAs and bridges hooks to core.hooks.doAction', async () => {
    const { core, registered, actions, logs } = fakeCore('services')
    const userCalls: string[] = []
    const orbit = OrbitFlux.configure({
      exposeAs: 'workflows',
      defaultRetries: 0,
      on: { workflowComplete: () => void userCalls.push('done') },
    })
    await orbit.install(core)
    const engine = registered.get('workflows') as FluxEngine
    expect(engine).toBeInstanceOf(FluxEngine)
    expect(orbit.getEngine()).toBe(engine)
    await engine.execute(
      createWorkflow('o').step('a', () => {}),
      {},
    )
    expect(actions.map(([n]) => n)).toEqual([
      'flux:step:start',
      'flux:step:complete',
      'flux:workflow:complete',
    ])
    expect(userCalls).toEqual(['done'])
    expect(logs.some((l) => l.includes('[OrbitFlux] Initialized (Storage: memory)'))).toBe(true)
    await orbit.cleanup()
  })

  it('supports container.instance and routes engine logs to the core logger', async () => {
    const { core, registered, logs } = fakeCore('container')
    const orbit = new OrbitFlux({ defaultRetries: 0 })
    await orbit.install(core)
    const engine = registered.get('flux') as FluxEngine
    await engine.execute(
      createWorkflow('o').step('a', () => {
        throw new Error('bad')
      }),
      {},
    )
    expect(logs.some((l) => l.startsWith('info [Flux] workflow o') && l.includes('ended failed: bad'))).toBe(
      true,
    )
    await orbit.cleanup()
  })
})

describe('fluxflow/testing', () => {
  it('mockSteps swaps handlers without changing the definition key', async () => {
    const clock = new FakeClock()
    const real = createWorkflow('pay')
      .step('charge', () => {
        throw new Error('would hit the real API')
      })
      .commit('receipt', (ctx) => void (ctx.data.receipt = ctx.data.chargeId))
    const mocked = mockSteps(real, { charge: (ctx) => void (ctx.data.chargeId = 'ch_test') })
    const engine = new FluxEngine({ clock, logger: new FluxSilentLogger() })
    const result = await engine.execute(mocked, {})
    expect(result.data).toEqual({ chargeId: 'ch_test', receipt: 'ch_test' })
    expect(() => mockSteps(real, { nope: () => {} })).toThrow(/no step "nope"/)
  })
})
