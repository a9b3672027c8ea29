import { toError } from '../errors.js'
import type { FluxTraceEvent, FluxTraceSink } from '../trace/events.js'
import type { FluxHooks, FluxLogger } from '../types.js'

type HookName = keyof FluxHooks

/**
 * Calls hooks and the trace sink so that neither can change a run's outcome: whatever they
 * throw or reject with is logged at `warn` and dropped.
 */
export class Emitter {
  readonly #logger: FluxLogger
  readonly #sink: FluxTraceSink | undefined
  readonly #hooks: FluxHooks
  readonly #extra: ((event: FluxTraceEvent) => void)[] = []

  constructor(logger: FluxLogger, sink: FluxTraceSink | undefined, hooks: FluxHooks | undefined) {
    this.#logger = logger
    this.#sink = sink
    this.#hooks = hooks ?? {}
  }

  /** True when anything listens to trace events (lets the hot path skip building them). */
  get tracing(): boolean {
    return this.#sink !== undefined || this.#extra.length > 0
  }

  /** In-process listener (used by the viewer and tests). */
  listen(listener: (event: FluxTraceEvent) => void): () => void {
    this.#extra.push(listener)
    return () => {
      const i = this.#extra.indexOf(listener)
      if (i >= 0) this.#extra.splice(i, 1)
    }
  }

  /** Emits; the returned promise (if any) resolves when the sink has the event. Never rejects. */
  trace(event: FluxTraceEvent): Promise<void> | undefined {
    for (const listener of this.#extra) {
      try {
        listener(event)
      } catch (error) {
        this.#logger.warn(`trace listener threw on ${event.type}: ${toError(error).message}`)
      }
    }
    if (!this.#sink) return undefined
    try {
      const result = this.#sink.emit(event)
      if (result && typeof (result as Promise<void>).then === 'function') {
        return (result as Promise<void>).then(undefined, (error: unknown) => {
          this.#logger.warn(`trace sink failed on ${event.type}: ${toError(error).message}`)
        })
      }
    } catch (error) {
      this.#logger.warn(`trace sink threw on ${event.type}: ${toError(error).message}`)
    }
    return undefined
  }

  /** True when a hook of that name is configured (lets the hot path skip building its arguments). */
  hasHook(name: HookName): boolean {
    return this.#hooks[name] !== undefined
  }

  /** Calls a hook; a throw or rejection is logged and ignored. Hooks are not awaited. */
  hook<K extends HookName>(name: K, ...args: Parameters<NonNullable<FluxHooks[K]>>): void {
    const fn = this.#hooks[name] as ((...a: unknown[]) => unknown) | undefined
    if (!fn) return
    try {
      const result = fn(...args)
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        ;(result as Promise<unknown>).then(undefined, (error: unknown) => {
          this.#logger.warn(`hook ${name} rejected: ${toError(error).message}`)
        })
      }
    } catch (error) {
      this.#logger.warn(`hook ${name} threw: ${toError(error).message}`)
    }
  }
}
