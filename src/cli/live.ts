/**
 * Live updates for the page: server-sent events fed by polling the source.
 *
 * Each open page is a watcher with a question (this run? this page of the list?) and the answer
 * it last sent. One timer asks every watcher's question every `pollMs`; a watcher sends an event
 * only when its answer changed (a run's `revision`, or the ids and revisions of a list page). A
 * source that can push (Postgres LISTEN/NOTIFY, a trace file growing) makes everyone ask at once
 * rather than wait for the next tick. Polling is cheap here: a run costs one `getRun` until it
 * changes, and a list page is the same indexed query the page itself makes.
 */
import type { ServerResponse } from 'node:http'
import type { ViewerSource } from './source.js'
import type { ListQuery } from './view-model.js'

/** What a watcher follows. */
export type LiveTopic =
  | { kind: 'run'; id: string; revision: number | null }
  | { kind: 'list'; query: ListQuery }

interface Watcher {
  res: ServerResponse
  topic: LiveTopic
  /** Signature of the last answer sent. */
  last: string | null
  busy: boolean
}

/** The SSE hub of one server. */
export class LiveHub {
  readonly #source: ViewerSource
  readonly #pollMs: number
  readonly #watchers = new Set<Watcher>()
  readonly #onError: (error: unknown) => void
  #timer: NodeJS.Timeout | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #unwatch: Promise<(() => Promise<void>) | undefined> | undefined
  #nudge: NodeJS.Timeout | undefined

  constructor(source: ViewerSource, pollMs: number, onError: (error: unknown) => void) {
    this.#source = source
    this.#pollMs = pollMs
    this.#onError = onError
  }

  /** Number of open event streams. */
  get size(): number {
    return this.#watchers.size
  }

  /** Takes over `res` as an event stream for `topic`. */
  add(res: ServerResponse, topic: LiveTopic): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    res.write('retry: 2000\n\n')
    const watcher: Watcher = {
      res,
      topic,
      last: topic.kind === 'run' && topic.revision !== null ? String(topic.revision) : null,
      busy: false,
    }
    this.#watchers.add(watcher)
    res.on('close', () => {
      this.#watchers.delete(watcher)
      if (this.#watchers.size === 0) this.#stop().catch(this.#onError)
    })
    this.#ensureRunning()
    void this.#check(watcher)
  }

  /** Ends every stream and stops polling. */
  async close(): Promise<void> {
    for (const watcher of this.#watchers) watcher.res.end()
    this.#watchers.clear()
    await this.#stop()
  }

  #ensureRunning(): void {
    if (this.#timer) return
    this.#timer = setInterval(() => this.#checkAll(), this.#pollMs)
    // Proxies drop idle streams; a comment line every 15 s keeps them open.
    this.#heartbeat = setInterval(() => {
      for (const w of this.#watchers) w.res.write(': ping\n\n')
    }, 15_000)
    this.#unwatch ??= this.#source.watch
      ? this.#source
          .watch(() => {
            // Several notifications in a burst make one round of checks.
            this.#nudge ??= setTimeout(() => {
              this.#nudge = undefined
              this.#checkAll()
            }, 20)
          })
          .catch((error: unknown) => {
            this.#onError(error)
            return undefined
          })
      : undefined
  }

  async #stop(): Promise<void> {
    clearInterval(this.#timer)
    clearInterval(this.#heartbeat)
    clearTimeout(this.#nudge)
    this.#timer = this.#heartbeat = this.#nudge = undefined
    const unwatch = this.#unwatch
    this.#unwatch = undefined
    const stop = await unwatch
    await stop?.().catch(this.#onError)
  }

  #checkAll(): void {
    for (const watcher of this.#watchers) void this.#check(watcher)
  }

  async #check(watcher: Watcher): Promise<void> {
    if (watcher.busy) return
    watcher.busy = true
    try {
      const { topic } = watcher
      if (topic.kind === 'run') {
        const revision = await this.#source.revision(topic.id)
        const signature = String(revision)
        if (signature === watcher.last) return
        const view = revision === null ? null : await this.#source.run(topic.id)
        watcher.last = signature
        send(watcher.res, view === null ? 'gone' : 'run', view ?? { id: topic.id })
      } else {
        const view = await this.#source.list(topic.query)
        const signature = `${view.total}|${view.runs.map((r) => `${r.id}:${r.revision}`).join(',')}`
        if (signature === watcher.last) return
        watcher.last = signature
        send(watcher.res, 'list', view)
      }
    } catch (error) {
      // Reported once per distinct problem (a database that went away fails every tick).
      const message = error instanceof Error ? error.message : String(error)
      if (watcher.last !== `problem:${message}`) {
        watcher.last = `problem:${message}`
        send(watcher.res, 'problem', { message })
        this.#onError(error)
      }
    } finally {
      watcher.busy = false
    }
  }
}

/** Writes one event. JSON never holds a raw newline, so it fits one `data:` line. */
function send(res: ServerResponse, event: string, data: unknown): void {
  if (res.writableEnded || res.destroyed) return
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
}
