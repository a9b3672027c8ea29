import type { FluxEngineConfig } from '../engine/engine.js'
import { FluxEngine } from '../engine/engine.js'
import type { FluxStore } from '../storage/contract.js'
import { MemoryStorage } from '../storage/memory/memory-storage.js'
import type { FluxTraceSink } from '../trace/events.js'
import type { FluxHooks, FluxLogger, WorkflowStorage } from '../types.js'

/** What OrbitFlux needs of a Gravito `PlanetCore` (structural: `@gravito/core` is not on npm). */
export interface GravitoCoreLike {
  logger?: Partial<FluxLogger>
  services?: { set(key: string, value: unknown): unknown }
  container?: { instance(key: string, value: unknown): unknown }
  hooks?: { doAction(name: string, payload?: unknown): unknown }
}

/** Options of {@link OrbitFlux}: the origin's plus `trace`, `on` and any engine option. */
export interface OrbitFluxOptions {
  /** `'memory'` (default), `'sqlite'` (SqliteStorage at `dbPath`), or a storage instance. */
  storage?: 'memory' | 'sqlite' | WorkflowStorage | FluxStore
  dbPath?: string
  /** Service key. Default `'flux'`. */
  exposeAs?: string
  logger?: FluxLogger
  defaultRetries?: number
  defaultTimeout?: number
  trace?: FluxTraceSink
  on?: FluxHooks
  engine?: Omit<FluxEngineConfig, 'storage' | 'logger' | 'trace' | 'on' | 'defaultRetries' | 'defaultTimeout'>
}

/**
 * Gravito integration: creates a `FluxEngine`, registers it as a service (`core.services.set` or
 * `core.container.instance`), routes its logs to the core logger and its hooks to
 * `core.hooks.doAction('flux:…')`.
 */
export class OrbitFlux {
  readonly options: OrbitFluxOptions
  #engine: FluxEngine | undefined

  constructor(options: OrbitFluxOptions = {}) {
    this.options = {
      storage: 'memory',
      exposeAs: 'flux',
      defaultRetries: 3,
      defaultTimeout: 30_000,
      ...options,
    }
  }

  static configure(options: OrbitFluxOptions = {}): OrbitFlux {
    return new OrbitFlux(options)
  }

  async install(core: GravitoCoreLike): Promise<void> {
    const o = this.options
    const storage = await resolveStorage(o)
    const logger = o.logger ?? coreLogger(core)
    const hooks = core.hooks
    const user = o.on ?? {}
    const action = (name: string, payload: unknown) => {
      void Promise.resolve(hooks?.doAction(name, payload)).catch((error: unknown) =>
        logger.warn(`hook ${name} failed: ${error instanceof Error ? error.message : String(error)}`),
      )
    }
    const on: FluxHooks = {
      stepStart: (step, ctx) => {
        user.stepStart?.(step, ctx)
        action('flux:step:start', { step, ctx })
      },
      stepComplete: (step, ctx, result) => {
        user.stepComplete?.(step, ctx, result)
        action('flux:step:complete', { step, ctx, result })
      },
      stepError: (step, ctx, error) => {
        user.stepError?.(step, ctx, error)
        action('flux:step:error', { step, ctx, error })
      },
      workflowComplete: (ctx) => {
        user.workflowComplete?.(ctx)
        action('flux:workflow:complete', { ctx })
      },
      workflowError: (ctx, error) => {
        user.workflowError?.(ctx, error)
        action('flux:workflow:error', { ctx, error })
      },
    }
    const engine = new FluxEngine({
      ...o.engine,
      storage,
      logger,
      on,
      ...(o.trace ? { trace: o.trace } : {}),
      ...(o.defaultRetries !== undefined ? { defaultRetries: o.defaultRetries } : {}),
      ...(o.defaultTimeout !== undefined ? { defaultTimeout: o.defaultTimeout } : {}),
    })
    await engine.init()
    const key = o.exposeAs ?? 'flux'
    if (core.services) core.services.set(key, engine)
    if (core.container) core.container.instance(key, engine)
    if (!core.services && !core.container)
      throw new TypeError('OrbitFlux: core has neither services.set nor container.instance')
    this.#engine = engine
    core.logger?.info?.(
      `[OrbitFlux] Initialized (Storage: ${typeof o.storage === 'string' ? o.storage : 'custom'})`,
    )
  }

  getEngine(): FluxEngine | undefined {
    return this.#engine
  }

  async cleanup(): Promise<void> {
    await this.#engine?.close()
  }
}

async function resolveStorage(o: OrbitFluxOptions): Promise<WorkflowStorage | FluxStore> {
  if (o.storage === 'sqlite') {
    // Loaded only when asked for, so the root entry never pulls in a native driver.
    const { SqliteStorage } = await import('../storage/sqlite/sqlite-storage.js')
    return new SqliteStorage({ path: o.dbPath ?? './data/workflows.db' })
  }
  if (o.storage === 'memory' || o.storage === undefined) return new MemoryStorage()
  return o.storage
}

function coreLogger(core: GravitoCoreLike): FluxLogger {
  const log = core.logger ?? {}
  const call =
    (level: keyof FluxLogger) =>
    (message: string, ...args: unknown[]) =>
      log[level]?.(`[Flux] ${message}`, ...args)
  return { debug: call('debug'), info: call('info'), warn: call('warn'), error: call('error') }
}
