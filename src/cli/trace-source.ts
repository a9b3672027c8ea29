/**
 * `flux dev --trace <file>`: the runs of an NDJSON trace file (what `JsonFileTraceSink` writes),
 * tailed as it grows.
 *
 * The origin's viewer showed the file as one stream of events. Here events are grouped by
 * `workflowId`, so each run is told apart and gets the same list row and run page as a run read
 * from storage, rebuilt from its events: statuses, attempts, retries with their backoff, waits,
 * compensations, signals. What a trace does not hold (data before/after each step, stacks) is
 * simply absent. A truncated file (a sink opened with `reset`) starts the view over.
 */
import { type FileHandle, open, stat } from 'node:fs/promises'
import type { FluxTraceEvent } from '../trace/events.js'
import { graphNodes } from './api.js'
import { pretty } from './pretty.js'
import type { ViewerSource } from './source.js'
import { applyEvent, describeEvent, parseEvent, summary, type TraceRun } from './trace-fold.js'
import type { ListQuery, RunDetailView, RunListView } from './view-model.js'

/** Bytes compared to recognise a rewritten file. */
const HEAD_BYTES = 256
/** Events kept per run; older ones are dropped from the event log (not from the derived state). */
const MAX_EVENTS_PER_RUN = 2_000

/** Options of {@link TraceSource}. */
export interface TraceSourceOptions {
  /** How often the file is checked for new lines. Default 250 ms. */
  pollMs?: number
}

/** A viewer source over a trace file. Call `start()` before use and `close()` after. */
export class TraceSource implements ViewerSource {
  readonly kind = 'trace' as const
  readonly label: string
  readonly #path: string
  readonly #pollMs: number
  readonly #runs = new Map<string, TraceRun>()
  readonly #listeners = new Set<() => void>()
  #offset = 0
  #partial = ''
  /** The file's first bytes and inode as last read: how a rewritten file is recognised. */
  #head = ''
  #inode = 0
  #timer: NodeJS.Timeout | undefined
  #reading: Promise<void> = Promise.resolve()
  /** Lines that were not trace events (counted, shown nowhere else). */
  skippedLines = 0

  constructor(path: string, options: TraceSourceOptions = {}) {
    this.#path = path
    this.label = path
    this.#pollMs = options.pollMs ?? 250
  }

  /** Reads what the file holds now and starts following it. */
  async start(): Promise<void> {
    await this.refresh()
    this.#timer = setInterval(() => {
      void this.refresh()
    }, this.#pollMs)
    this.#timer.unref()
  }

  /** Reads new lines now (serialised with the poll). */
  refresh(): Promise<void> {
    this.#reading = this.#reading.then(() => this.#read()).catch(() => undefined)
    return this.#reading
  }

  async #read(): Promise<void> {
    const info = await stat(this.#path).catch(() => null)
    if (!info) return
    const handle = await open(this.#path, 'r')
    let text: string
    try {
      // Rewritten (a sink opened with `reset`, or the file replaced): what we showed is gone.
      // Size alone misses a new file that grew past the old offset; its first bytes do not.
      if (
        this.#offset > 0 &&
        (info.ino !== this.#inode || info.size < this.#offset || !(await this.#sameHead(handle)))
      ) {
        this.#runs.clear()
        this.#offset = 0
        this.#partial = ''
        this.#head = ''
        for (const listener of this.#listeners) listener()
      }
      this.#inode = info.ino
      if (info.size === this.#offset) return
      const buffer = Buffer.alloc(info.size - this.#offset)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.#offset)
      if (this.#offset === 0)
        this.#head = buffer.subarray(0, Math.min(bytesRead, HEAD_BYTES)).toString('latin1')
      this.#offset += bytesRead
      text = this.#partial + buffer.subarray(0, bytesRead).toString('utf8')
    } finally {
      await handle.close()
    }
    const lines = text.split('\n')
    this.#partial = lines.pop() ?? ''
    let changed = false
    for (const line of lines) {
      if (line.trim() === '') continue
      const event = parseEvent(line)
      if (event) {
        this.#apply(event)
        changed = true
      } else this.skippedLines++
    }
    if (changed) for (const listener of this.#listeners) listener()
  }

  async #sameHead(handle: FileHandle): Promise<boolean> {
    const buffer = Buffer.alloc(this.#head.length)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    return buffer.subarray(0, bytesRead).toString('latin1') === this.#head
  }

  #apply(event: FluxTraceEvent): void {
    let run = this.#runs.get(event.workflowId)
    if (!run) {
      run = {
        id: event.workflowId,
        workflow: event.workflowName,
        status: 'running',
        createdAt: event.timestamp,
        updatedAt: event.timestamp,
        completedAt: null,
        input: undefined,
        hasInput: false,
        error: null,
        waitingFor: null,
        wakeAt: null,
        cursor: 0,
        steps: [],
        signals: [],
        events: [],
        revision: 0,
      }
      this.#runs.set(run.id, run)
    }
    run.revision++
    run.updatedAt = Math.max(run.updatedAt, event.timestamp)
    if (run.workflow === '' && event.workflowName) run.workflow = event.workflowName
    run.events.push(event)
    if (run.events.length > MAX_EVENTS_PER_RUN) run.events.splice(0, run.events.length - MAX_EVENTS_PER_RUN)
    applyEvent(run, event)
  }

  async list(query: ListQuery): Promise<RunListView> {
    const matches: TraceRun[] = []
    for (const run of this.#runs.values()) {
      if (query.workflow !== undefined && run.workflow !== query.workflow) continue
      if (query.statuses?.length && !query.statuses.includes(run.status)) continue
      if (query.idPrefix !== undefined && !run.id.startsWith(query.idPrefix)) continue
      if (query.from !== undefined && run.createdAt < query.from) continue
      if (query.to !== undefined && run.createdAt >= query.to) continue
      matches.push(run)
    }
    matches.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    return {
      runs: matches.slice(query.offset, query.offset + query.limit).map(summary),
      total: matches.length,
      limit: query.limit,
      offset: query.offset,
    }
  }

  async run(id: string): Promise<RunDetailView | null> {
    const run = this.#runs.get(id)
    if (!run) return null
    const steps = run.steps.filter(Boolean)
    const received = run.signals
    const times = steps.flatMap((s) => [s.startedAt, s.completedAt].filter((t): t is number => t !== null))
    return {
      source: 'trace',
      run: {
        ...summary(run),
        queue: null,
        definitionKey: null,
        leaseOwner: null,
        leaseExpiresAt: null,
        compensate: [],
      },
      input: run.hasInput ? pretty(run.input) : '(not in the trace)',
      data: '(a trace file does not hold ctx.data)',
      steps,
      checkpoints: [],
      graph: graphNodes(steps, { cursor: run.cursor, status: run.status }),
      signals: {
        received: received.map((s) => ({ name: s.name, step: '', at: s.at, payload: s.payload })),
        pending: [],
      },
      error: run.error === null ? null : { name: 'Error', message: run.error, stack: null, code: null },
      timeline: { start: run.createdAt, end: Math.max(run.updatedAt, ...times, run.createdAt + 1) },
      events: run.events.map((e) => ({
        at: e.timestamp,
        type: e.type,
        step: e.stepName ?? null,
        text: describeEvent(e),
      })),
    }
  }

  async revision(id: string): Promise<number | null> {
    return this.#runs.get(id)?.revision ?? null
  }

  async workflows(): Promise<string[]> {
    return [...new Set([...this.#runs.values()].map((r) => r.workflow))].sort()
  }

  async watch(listener: () => void): Promise<() => Promise<void>> {
    this.#listeners.add(listener)
    return async () => {
      this.#listeners.delete(listener)
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#reading
  }
}

export { parseEvent }
