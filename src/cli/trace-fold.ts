/**
 * How a trace file's events become runs: each event is folded into the state of its run
 * (grouped by `workflowId`), giving the same list row and run page as a run read from storage.
 */
import type { FluxTraceEvent } from '../trace/events.js'
import { isWorkflowStatus, type WorkflowStatus } from '../types.js'
import { pretty } from './pretty.js'
import type { RunSummaryView, StepView } from './view-model.js'

/** A run rebuilt from its events. */
export interface TraceRun {
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

/** The list row of a trace run. */
export function summary(run: TraceRun): RunSummaryView {
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
export function applyEvent(run: TraceRun, e: FluxTraceEvent): void {
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

/** One line of the event log. */
export function describeEvent(e: FluxTraceEvent): string {
  const parts: string[] = []
  if (e.attempt !== undefined) parts.push(`attempt ${e.attempt}`)
  if (e.duration !== undefined) parts.push(`${e.duration} ms`)
  if (e.status !== undefined) parts.push(e.status)
  if (e.error !== undefined) parts.push(`error: ${e.error}`)
  if (e.meta !== undefined) parts.push(pretty(e.meta, { compact: true, maxLength: 400 }))
  return parts.join(' · ')
}
