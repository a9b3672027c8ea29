import type { FluxLogger } from './types.js'

type Level = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 }

/**
 * Writes `<prefix> <message>` plus the extra arguments to the matching `console` method.
 * `level` drops messages below it (default: everything).
 */
export class FluxConsoleLogger implements FluxLogger {
  readonly #prefix: string
  readonly #min: number

  constructor(prefix = '[Flux]', options: { level?: Level } = {}) {
    this.#prefix = prefix
    this.#min = ORDER[options.level ?? 'debug']
  }

  debug(message: string, ...args: unknown[]): void {
    if (this.#min <= 0) console.debug(`${this.#prefix} ${message}`, ...args)
  }
  info(message: string, ...args: unknown[]): void {
    if (this.#min <= 1) console.info(`${this.#prefix} ${message}`, ...args)
  }
  warn(message: string, ...args: unknown[]): void {
    if (this.#min <= 2) console.warn(`${this.#prefix} ${message}`, ...args)
  }
  error(message: string, ...args: unknown[]): void {
    console.error(`${this.#prefix} ${message}`, ...args)
  }
}

/** Drops everything. */
export class FluxSilentLogger implements FluxLogger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
}
