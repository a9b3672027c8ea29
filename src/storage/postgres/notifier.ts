/**
 * LISTEN/NOTIFY wake-ups for idle workers.
 *
 * One dedicated connection per storage LISTENs on the schema's channel and fans each
 * notification out to every subscriber. It is checked out of the pool for as long as anyone is
 * subscribed (one pool slot) and destroyed, never returned, when the last one leaves: a
 * connection that still LISTENs must not serve other queries.
 *
 * Notifications are a latency optimisation, not a delivery guarantee: they are lost while the
 * connection is down, and NOTIFY itself is fire-and-forget. Workers keep polling `claimDue` as the
 * fallback. When the connection drops (a terminated backend, a network blip) the loop reconnects
 * with exponential backoff and, once listening again, emits one synthetic `{ kind: 'run' }` so
 * subscribers poll at once for whatever they may have missed.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { StoreEvent } from '../contract.js'
import { holdClient, type NotificationLike, type PoolLike } from './driver.js'

const MIN_BACKOFF_MS = 50
const MAX_BACKOFF_MS = 5_000

type Listener = (event: StoreEvent) => void

interface Running {
  abort: AbortController
  ready: Promise<void>
  loop: Promise<void>
}

/** Shared LISTEN connection of one storage. */
export class Notifier {
  readonly #pool: PoolLike
  readonly #channel: string
  readonly #listen: string
  readonly #warn: (message: string) => void
  readonly #listeners = new Set<Listener>()
  #running: Running | undefined
  /** Times the connection was (re-)established; for tests. */
  connections = 0

  constructor(pool: PoolLike, channel: string, listenSql: string, warn: (message: string) => void) {
    this.#pool = pool
    this.#channel = channel
    this.#listen = listenSql
    this.#warn = warn
  }

  /** Adds a subscriber; resolves once the connection listens. Returns the unsubscribe. */
  async subscribe(listener: Listener): Promise<() => Promise<void>> {
    const entry: Listener = (event) => listener(event)
    this.#listeners.add(entry)
    try {
      this.#running ??= this.#start()
      await this.#running.ready
    } catch (error) {
      this.#listeners.delete(entry)
      throw error
    }
    return async () => {
      if (!this.#listeners.delete(entry)) return
      if (this.#listeners.size === 0) await this.stop()
    }
  }

  /** Drops every subscriber and ends the connection. Idempotent. */
  async stop(): Promise<void> {
    this.#listeners.clear()
    const running = this.#running
    if (!running) return
    this.#running = undefined
    running.abort.abort()
    await running.loop
  }

  #start(): Running {
    const abort = new AbortController()
    let markReady!: (error?: unknown) => void
    const ready = new Promise<void>((resolve, reject) => {
      markReady = (error) => (error === undefined ? resolve() : reject(error))
    })
    const running: Running = { abort, ready, loop: Promise.resolve() }
    running.loop = this.#loop(abort.signal, markReady).finally(() => {
      if (this.#running === running) this.#running = undefined
    })
    return running
  }

  async #loop(signal: AbortSignal, markReady: (error?: unknown) => void): Promise<void> {
    let first = true
    let backoff = 0
    while (!signal.aborted) {
      let lost: unknown
      try {
        const held = await holdClient(this.#pool, 'listen')
        try {
          lost = await this.#listenUntilLost(held.client, signal, () => {
            this.connections++
            backoff = 0
            if (first) markReady()
            else this.#emit({ kind: 'run' })
            first = false
          })
        } finally {
          // Always destroyed: a LISTENing connection must not go back to the pool.
          held.release(lost instanceof Error ? lost : true)
        }
      } catch (error) {
        lost = error
      }
      if (signal.aborted) break
      if (first) {
        // The first connection failed: subscribe() rejects and the caller polls only.
        markReady(lost)
        return
      }
      backoff = backoff === 0 ? MIN_BACKOFF_MS : Math.min(backoff * 2, MAX_BACKOFF_MS)
      this.#warn(`PostgresStorage: LISTEN connection lost (${describe(lost)}); reconnecting in ${backoff} ms`)
      await sleep(backoff, undefined, { signal }).catch(() => undefined)
    }
    markReady(new Error('PostgresStorage: unsubscribed before the LISTEN connection was ready'))
  }

  /** Listens on `client` until it fails (resolves with the reason) or `signal` aborts (undefined). */
  async #listenUntilLost(
    client: Awaited<ReturnType<PoolLike['connect']>>,
    signal: AbortSignal,
    onListening: () => void,
  ): Promise<unknown> {
    let settle!: (reason: unknown) => void
    const lost = new Promise<unknown>((resolve) => {
      settle = resolve
    })
    const onError = (error: Error) => settle(error)
    const onEnd = () => settle(new Error('connection ended'))
    const onNotification = (message: NotificationLike) => {
      if (message.channel === this.#channel) this.#emit(parseEvent(message.payload))
    }
    const onAbort = () => settle(undefined)
    client.on('error', onError)
    client.on('end', onEnd)
    client.on('notification', onNotification)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await client.query(this.#listen)
      onListening()
      return await lost
    } finally {
      signal.removeEventListener('abort', onAbort)
      client.removeListener('notification', onNotification)
      client.removeListener('end', onEnd)
      // The 'error' listener stays: the destroyed client may still report its failure.
    }
  }

  #emit(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch (error) {
        this.#warn(`PostgresStorage: a subscriber threw: ${describe(error)}`)
      }
    }
  }
}

function parseEvent(payload: string | undefined): StoreEvent {
  try {
    const parsed = JSON.parse(payload ?? '') as { kind?: unknown; id?: unknown }
    const kind = parsed.kind === 'signal' || parsed.kind === 'timer' ? parsed.kind : 'run'
    return typeof parsed.id === 'string' ? { kind, id: parsed.id } : { kind }
  } catch {
    return { kind: 'run' }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
