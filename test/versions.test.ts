import { describe, expect, it } from 'vitest'
import {
  createWorkflow,
  Flux,
  FluxDefinitionChangedError,
  FluxEngine,
  FluxSilentLogger,
  MemoryStorage,
} from '../src/index.js'
import { FakeClock } from '../src/testing/index.js'

function versions(log: string[]) {
  const v1 = createWorkflow('signup')
    .step('create', () => void log.push('v1:create'))
    .step('confirm', () => Flux.wait('confirmed'))
    .step('welcome', () => void log.push('v1:welcome'))
  // A deploy renames a step and adds one: a different shape, so a different definition key.
  const v2 = createWorkflow('signup')
    .step('create', () => void log.push('v2:create'))
    .step('confirm', () => Flux.wait('confirmed'))
    .step('send-welcome', () => void log.push('v2:welcome'))
    .step('follow-up', () => void log.push('v2:follow-up'))
  return { v1, v2 }
}

describe('definition versions', () => {
  it('two versions registered side by side each finish their own runs', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const log: string[] = []
    const { v1, v2 } = versions(log)
    const web = new FluxEngine({ storage, clock, logger: new FluxSilentLogger() })
    const old = await web.execute(v1, {}, { id: 'old' })
    const fresh = await web.execute(v2, {}, { id: 'fresh' })
    expect([old.status, fresh.status]).toEqual(['suspended', 'suspended'])
    // The worker of the new deploy keeps v1 registered until its runs drain.
    const worker = new FluxEngine({
      storage,
      clock,
      logger: new FluxSilentLogger(),
      workflows: [v1, v2],
      pollInterval: 100,
    })
    await worker.start()
    await web.signal(v1, 'old', 'confirmed', null, { wait: false })
    await web.signal(v2, 'fresh', 'confirmed', null, { wait: false })
    await clock.advance(200)
    expect((await storage.getRun('old'))!.status).toBe('completed')
    expect((await storage.getRun('fresh'))!.status).toBe('completed')
    expect(log).toEqual(['v1:create', 'v2:create', 'v1:welcome', 'v2:welcome', 'v2:follow-up'])
    expect((await worker.get('old'))!.history.map((h) => h.name)).toEqual(['create', 'confirm', 'welcome'])
    await worker.close()
  })

  it('a worker without the old version leaves its runs alone; resuming them with the new one is refused', async () => {
    const storage = new MemoryStorage()
    const clock = new FakeClock()
    const log: string[] = []
    const { v1, v2 } = versions(log)
    const web = new FluxEngine({ storage, clock, logger: new FluxSilentLogger() })
    await web.execute(v1, {}, { id: 'old' })
    await web.signal(v1, 'old', 'confirmed', null, { wait: false })
    const worker = new FluxEngine({
      storage,
      clock,
      logger: new FluxSilentLogger(),
      workflows: [v2],
      pollInterval: 100,
    })
    await worker.start()
    await clock.advance(500)
    expect((await storage.getRun('old'))!.status).toBe('suspended')
    expect(log).toEqual(['v1:create'])
    const error = await worker.resume(v2, 'old').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FluxDefinitionChangedError)
    expect((error as FluxDefinitionChangedError).changedSteps).toEqual([
      'welcome',
      'send-welcome',
      'follow-up',
    ])
    await worker.close()
  })

  it('the same explicit version asserts compatibility across a changed shape', async () => {
    const storage = new MemoryStorage()
    const log: string[] = []
    const a = createWorkflow('billing')
      .version('2024-06')
      .step('charge', () => void log.push('a:charge'))
      .step('wait', () => Flux.wait('go'))
    const b = createWorkflow('billing')
      .version('2024-06')
      .step('charge', () => void log.push('b:charge'))
      .step('wait', () => Flux.wait('go'))
      .step('receipt', () => void log.push('b:receipt'))
    const engine = new FluxEngine({ storage, logger: new FluxSilentLogger() })
    const { id } = await engine.execute(a, {})
    const done = await engine.signal(b, id, 'go')
    expect(done.status).toBe('completed')
    expect(log).toEqual(['a:charge', 'b:receipt'])
    const stored = await engine.get(id)
    expect(stored!.definitionVersion).toBe('2024-06')
  })
})
