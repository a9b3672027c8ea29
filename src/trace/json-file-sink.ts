import type { FluxTraceEvent, FluxTraceSink } from './events.js'

/** Options of {@link JsonFileTraceSink}. */
export interface JsonFileTraceSinkOptions {
  /** File to append NDJSON lines to; missing parent folders are created. */
  path: string
  /** Truncate the file when the sink opens it. Default false. */
  reset?: boolean
  /** fsync after every line (slower; survives power loss). Default false. */
  fsync?: boolean
}

type Handle = { write(data: string): Promise<unknown>; sync(): Promise<void>; close(): Promise<void> }

/**
 * Writes each trace event as one JSON line. `emit` resolves once the line is written to the file
 * (and synced, with `fsync`). Lines are written in emit order. `node:fs` is loaded on first use,
 * so importing fluxflow never requires it.
 *
 * @example
 * ```ts
 * new FluxEngine({ trace: new JsonFileTraceSink({ path: './.flux/trace.ndjson', reset: true }) })
 * ```
 */
export class JsonFileTraceSink implements FluxTraceSink {
  readonly path: string
  readonly #reset: boolean
  readonly #fsync: boolean
  #handle: Promise<Handle> | undefined
  #tail: Promise<unknown> = Promise.resolve()

  constructor(options: JsonFileTraceSinkOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError('JsonFileTraceSink needs a path')
    }
    this.path = options.path
    this.#reset = options.reset ?? false
    this.#fsync = options.fsync ?? false
  }

  emit(event: FluxTraceEvent): Promise<void> {
    const line = `${stringifyEvent(event)}\n`
    const write = this.#tail.then(async () => {
      const handle = await this.#open()
      await handle.write(line)
      if (this.#fsync) await handle.sync()
    })
    this.#tail = write.catch(() => undefined)
    return write
  }

  /** Flushes pending lines and closes the file. */
  async close(): Promise<void> {
    await this.#tail
    const handle = this.#handle
    this.#handle = undefined
    if (handle !== undefined) await (await handle).close()
  }

  #open(): Promise<Handle> {
    this.#handle ??= (async () => {
      const fs = await import('node:fs/promises')
      const { dirname } = await import('node:path')
      await fs.mkdir(dirname(this.path), { recursive: true })
      const file = await fs.open(this.path, this.#reset ? 'w' : 'a')
      return {
        write: (data: string) => file.appendFile(data),
        sync: () => file.sync(),
        close: () => file.close(),
      }
    })()
    return this.#handle
  }
}

/** JSON of an event; BigInt, Map, Set, Error and cycles are rendered rather than thrown on. */
export function stringifyEvent(event: FluxTraceEvent): string {
  const seen = new WeakSet<object>()
  return JSON.stringify(event, (_key, value: unknown) => {
    if (typeof value === 'bigint') return `${value}n`
    if (value instanceof Map) return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), v]))
    if (value instanceof Set) return [...value]
    if (value instanceof Error) return { name: value.name, message: value.message }
    if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
    if (typeof value === 'function' || typeof value === 'symbol') return undefined
    if (value !== null && typeof value === 'object') {
      if (seen.has(value)) return '[Circular]'
      seen.add(value)
    }
    return value
  })
}
