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
import type { StepStatus, WorkflowStatus } from '../types.js'
import { graphNodes } from './api.js'
import { pretty } from './pretty.js'
import type { ViewerSource } from './source.js'
import type { ListQuery, RunDetailView, RunListView, RunSummaryView, StepView } from './view-model.js'

/** Bytes compared to recognise a rewritten file. */
const HEAD_BYTES = 256
/** Events kept per run; older ones are dropped from the event log (not from the derived state). */
const MAX_EVENTS_PER_RUN = 2_000

interface TraceRun {
  id: string
  workflow: string
  status: WorkflowStatus
  createdAt: number
  updatedAt: number
  completedAt: number | null
  input: unknown
  hasInput: boolean
  error: string | null
  waitingFor: string | null
  wakeAt: number | null
  cursor: number
  steps: StepView[]
  signals: { name: string; at: number; payload: string }[]
  events: FluxTraceEvent[]
  revision: number
}

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

/** A line as a trace event, or null when it is not one. */
export function parseEvent(line: string): FluxTraceEvent | null {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return null
  }
  if (!value || typeof value !== 'object') return null
  const e = value as Partial<FluxTraceEvent>
  if (typeof e.type !== 'string' || typeof e.workflowId !== 'string') return null
  const timestamp = typeof e.timestamp === 'number' ? e.timestamp : Date.parse(String(e.timestamp))
  if (!Number.isFinite(timestamp)) return null
  return {
    ...(e as FluxTraceEvent),
    timestamp,
    workflowName: typeof e.workflowName === 'string' ? e.workflowName : '',
  }
}

function summary(run: TraceRun): RunSummaryView {
  return {
    id: run.id,
    workflow: run.workflow,
    version: null,
    status: run.status,
    step: run.steps[run.cursor]?.name ?? null,
    stepIndex: run.cursor,
    stepCount: run.steps.length,
    waitingFor: run.waitingFor,
    wakeAt: run.wakeAt,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    completedAt: run.completedAt,
    revision: run.revision,
    error: run.error,
  }
}

function step(run: TraceRun, event: FluxTraceEvent): StepView | undefined {
  if (event.stepName === undefined) return undefined
  let index = event.stepIndex
  if (index === undefined) {
    const known = run.steps.findIndex((s) => s?.name === event.stepName)
    index = known >= 0 ? known : run.steps.length
  }
  let view = run.steps[index]
  if (!view) {
    for (let i = run.steps.length; i < index; i++) run.steps[i] ??= blankStep(i, `#${i}`)
    view = blankStep(index, event.stepName)
    run.steps[index] = view
  }
  if (event.commit) view.kind = 'commit'
  return view
}

function blankStep(index: number, name: string): StepView {
  return {
    index,
    name,
    kind: 'step',
    status: 'pending',
    attempts: 0,
    retries: 0,
    startedAt: null,
    completedAt: null,
    suspendedAt: null,
    wakeAt: null,
    waitingFor: null,
    duration: null,
    error: null,
    output: null,
    failedAttempts: [],
    compensation: null,
    changes: [],
  }
}

const metaNumber = (e: FluxTraceEvent, key: string): number | null =>
  typeof e.meta?.[key] === 'number' ? (e.meta[key] as number) : null
const metaString = (e: FluxTraceEvent, key: string): string | null =>
  typeof e.meta?.[key] === 'string' ? (e.meta[key] as string) : null

/** Folds one event into the run's derived state. */
function applyEvent(run: TraceRun, e: FluxTraceEvent): void {
  const s = step(run, e)
  if (s) run.cursor = s.index
  const at = e.timestamp
  switch (e.type) {
    case 'workflow:start':
      run.status = 'running'
      if ('input' in e) {
        run.input = e.input
        run.hasInput = true
      }
      break
    case 'workflow:resume':
    case 'workflow:recover':
      run.status = 'running'
      run.waitingFor = null
      run.wakeAt = null
      break
    case 'workflow:complete':
      run.status = 'completed'
      run.completedAt = at
      run.cursor = run.steps.length
      break
    case 'workflow:error':
      run.status = isWorkflowStatus(e.status) ? e.status : 'failed'
      run.error = e.error ?? run.error
      run.completedAt = at
      break
    case 'workflow:rollback_start':
      run.status = 'rolling_back'
      run.error = e.error ?? run.error
      break
    case 'workflow:rollback_complete':
      run.status = 'rolled_back'
      run.completedAt = at
      break
    case 'workflow:suspend':
      run.status = 'suspended'
      run.waitingFor = metaString(e, 'waitingFor')
      run.wakeAt = metaNumber(e, 'wakeAt')
      break
    case 'workflow:cancel':
      run.status = 'cancelled'
      run.error = e.error ? `Workflow cancelled: ${e.error}` : 'Workflow cancelled'
      run.completedAt = at
      break
    case 'step:start':
      if (!s) break
      s.status = 'running'
      s.startedAt ??= at
      s.attempts = e.attempt ?? s.attempts + 1
      s.retries = Math.max(0, s.attempts - 1)
      s.wakeAt = null
      break
    case 'step:complete':
      if (!s) break
      s.status = 'completed'
      s.completedAt = at
      s.startedAt ??= at
      s.duration = e.duration ?? (s.startedAt !== null ? at - s.startedAt : null)
      s.error = null
      s.wakeAt = null
      break
    case 'step:retry': {
      if (!s) break
      const delay = metaNumber(e, 'delay')
      s.error = e.error ?? null
      s.wakeAt = delay === null ? null : at + delay
      s.failedAttempts.push({
        attempt: e.attempt ?? s.attempts,
        at,
        error: e.error ?? '',
        backoffUntil: s.wakeAt,
      })
      break
    }
    case 'step:timeout':
      if (s) s.error = e.error ?? 'Step timeout'
      break
    case 'step:error':
      if (!s) break
      s.status = 'failed'
      s.completedAt = at
      s.error = e.error ?? null
      s.failedAttempts.push({
        attempt: e.attempt ?? s.attempts,
        at,
        error: e.error ?? '',
        backoffUntil: null,
      })
      break
    case 'step:skipped':
      if (!s) break
      s.status = 'skipped'
      s.completedAt = at
      break
    case 'step:suspend':
      if (!s) break
      s.status = 'suspended'
      s.suspendedAt = at
      s.startedAt ??= at
      s.waitingFor = metaString(e, 'waitingFor') ?? s.waitingFor
      s.wakeAt = metaNumber(e, 'wakeAt')
      break
    case 'step:compensate': {
      if (!s) break
      const done = e.status === 'compensated'
      s.status = done ? 'compensated' : 'compensating'
      s.compensation ??= { startedAt: at, compensatedAt: null, error: null }
      if (done) s.compensation.compensatedAt = at
      else s.compensation.error = e.error ?? null
      break
    }
    case 'signal:received': {
      const name = metaString(e, 'signal') ?? '?'
      run.signals.push({ name, at, payload: pretty(e.input) })
      break
    }
  }
}

const STATUSES = new Set<string>([
  'pending',
  'running',
  'paused',
  'suspended',
  'completed',
  'failed',
  'rolling_back',
  'rolled_back',
  'compensation_failed',
  'cancelled',
])

function isWorkflowStatus(value: WorkflowStatus | StepStatus | undefined): value is WorkflowStatus {
  return value !== undefined && STATUSES.has(value)
}

/** One line of the event log. */
function describeEvent(e: FluxTraceEvent): string {
  const parts: string[] = []
  if (e.attempt !== undefined) parts.push(`attempt ${e.attempt}`)
  if (e.duration !== undefined) parts.push(`${e.duration} ms`)
  if (e.status !== undefined) parts.push(e.status)
  if (e.error !== undefined) parts.push(`error: ${e.error}`)
  if (e.meta !== undefined) parts.push(pretty(e.meta, { compact: true, maxLength: 400 }))
  return parts.join(' · ')
}
