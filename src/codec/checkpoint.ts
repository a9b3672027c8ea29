/**
 * The checkpoint body format and how a run's state is rebuilt from its checkpoints.
 *
 * A checkpoint holds only what changed: the step records it touched and the top-level `ctx.data`
 * keys the step read or wrote (see engine/data-tracker.ts). The state of a run is the fold of its
 * checkpoints in order. This keeps a step's write proportional to what it changed, not to the
 * size of `ctx.data` — the difference between writing 100 KB and 1.5 MB for five 100 KB steps.
 */
import type { RunMeta, RunRecord, RunSnapshot, StoredError } from '../storage/contract.js'
import type { StepExecution, StepStatus, WorkflowState } from '../types.js'
import type { Serializer } from './codec.js'

/**
 * A step record as stored: the public shape with times as epoch milliseconds (cheaper to encode
 * than Dates, and what SQL can index), plus the commit generation bumped by `recommit`.
 * `publicStep` turns it into a `StepExecution`.
 */
export interface StoredStep {
  name: string
  status: StepStatus
  retries: number
  attempts: number
  startedAt?: number | undefined
  completedAt?: number | undefined
  suspendedAt?: number | undefined
  compensatedAt?: number | undefined
  wakeAt?: number | undefined
  waitingFor?: string | undefined
  duration?: number | undefined
  output?: unknown
  error?: string | undefined
  generation?: number | undefined
}

/** Decoded checkpoint body. */
export interface CheckpointBody {
  /** Step records written by this checkpoint, by index. */
  h?: [number, StoredStep][]
  /** `ctx.data` keys set. */
  d?: Record<string, unknown>
  /** `ctx.data` keys deleted. */
  u?: string[]
  /** The handler replaced `ctx.data` wholesale: clear before applying `d`. */
  x?: 1
}

/** A run's state rebuilt from its snapshot. */
export interface FoldedRun {
  history: StoredStep[]
  data: Record<string, unknown>
  /** Latest payload consumed per signal name. */
  signals: Record<string, unknown>
}

/** A fresh `pending` record. */
export function pendingStep(name: string): StoredStep {
  return { name, status: 'pending', retries: 0, attempts: 0 }
}

/** Parses the run's meta JSON; a corrupt row gets a clear error naming the run. */
export function parseMeta(run: Pick<RunRecord, 'id' | 'meta'>): RunMeta {
  try {
    const meta = JSON.parse(run.meta) as RunMeta
    if (!meta || !Array.isArray(meta.steps)) throw new Error('missing steps')
    return meta
  } catch (error) {
    throw new Error(
      `Run ${run.id} has corrupt metadata: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}

/** Applies one decoded body to a state in place. */
export function applyBody(state: FoldedRun, body: CheckpointBody): void {
  if (body.h) {
    for (const [index, record] of body.h) {
      state.history[index] = record
      if (record.status === 'completed' && record.waitingFor !== undefined && 'output' in record) {
        state.signals[record.waitingFor] = record.output
      }
    }
  }
  if (body.x) {
    for (const key of Object.keys(state.data)) delete state.data[key]
  }
  if (body.u) for (const key of body.u) delete state.data[key]
  if (body.d) Object.assign(state.data, body.d)
}

/** Decodes one checkpoint; a corrupt body gets a clear error naming the run and the checkpoint. */
export function decodeBody(serializer: Serializer, runId: string, seq: number, text: string): CheckpointBody {
  try {
    return serializer.decode(text) as CheckpointBody
  } catch (error) {
    throw new Error(
      `Run ${runId} has a corrupt checkpoint #${seq}: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}

/** Rebuilds history, data and consumed signals from a snapshot. */
export function foldSnapshot(serializer: Serializer, snapshot: RunSnapshot): FoldedRun {
  const meta = parseMeta(snapshot.run)
  const state: FoldedRun = { history: meta.steps.map(([name]) => pendingStep(name)), data: {}, signals: {} }
  for (const cp of snapshot.checkpoints)
    applyBody(state, decodeBody(serializer, snapshot.run.id, cp.seq, cp.body))
  return state
}

/** The public copy of a step record: Dates for times, no internal or unset fields. */
export function publicStep(record: StoredStep): StepExecution {
  const step: StepExecution = {
    name: record.name,
    status: record.status,
    retries: record.retries,
    attempts: record.attempts,
  }
  if (record.startedAt !== undefined) step.startedAt = new Date(record.startedAt)
  if (record.completedAt !== undefined) step.completedAt = new Date(record.completedAt)
  if (record.suspendedAt !== undefined) step.suspendedAt = new Date(record.suspendedAt)
  if (record.compensatedAt !== undefined) step.compensatedAt = new Date(record.compensatedAt)
  if (record.wakeAt !== undefined) step.wakeAt = new Date(record.wakeAt)
  if (record.waitingFor !== undefined) step.waitingFor = record.waitingFor
  if (record.duration !== undefined) step.duration = record.duration
  if ('output' in record) step.output = record.output
  if (record.error !== undefined) step.error = record.error
  return step
}

/** A stored record from a public one (the origin's `save(state)`). */
export function storedStep(step: StepExecution): StoredStep {
  const time = (d: Date | undefined) =>
    d instanceof Date ? d.getTime() : d === undefined ? undefined : new Date(d).getTime()
  const record: StoredStep = {
    name: step.name,
    status: step.status,
    retries: step.retries ?? 0,
    attempts: step.attempts ?? (step.retries ?? 0) + (step.status === 'pending' ? 0 : 1),
  }
  const fields: [keyof StoredStep, number | undefined][] = [
    ['startedAt', time(step.startedAt)],
    ['completedAt', time(step.completedAt)],
    ['suspendedAt', time(step.suspendedAt)],
    ['compensatedAt', time(step.compensatedAt)],
    ['wakeAt', time(step.wakeAt)],
    ['duration', step.duration],
  ]
  for (const [key, value] of fields)
    if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value
  if (step.waitingFor !== undefined) record.waitingFor = step.waitingFor
  if ('output' in step) record.output = step.output
  if (step.error !== undefined) record.error = step.error
  return record
}

/** Parses a stored error. */
export function parseStoredError(text: string | null): StoredError | undefined {
  if (!text) return undefined
  try {
    return JSON.parse(text) as StoredError
  } catch {
    return { name: 'Error', message: text }
  }
}

/** Rebuilds an `Error` from its stored form. */
export function toErrorObject(stored: StoredError): Error {
  const error = new Error(stored.message)
  error.name = stored.name
  if (stored.stack) error.stack = stored.stack
  if (stored.code) (error as { code?: string }).code = stored.code
  return error
}

/** Stores an error. */
export function storeError(error: Error): string {
  const stored: StoredError = { name: error.name, message: error.message }
  if (error.stack) stored.stack = error.stack
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') stored.code = code
  return JSON.stringify(stored)
}

/** The origin's `WorkflowState` view of a stored run. */
export function toWorkflowState(serializer: Serializer, snapshot: RunSnapshot): WorkflowState {
  const { run } = snapshot
  const folded = foldSnapshot(serializer, snapshot)
  const meta = parseMeta(run)
  let input: unknown
  try {
    input = serializer.decode(run.input)
  } catch (error) {
    throw new Error(
      `Run ${run.id} has a corrupt input: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
  const state: WorkflowState = {
    id: run.id,
    name: run.workflowName,
    status: run.status,
    input,
    data: folded.data,
    currentStep: run.cursor,
    history: folded.history.map(publicStep),
    createdAt: new Date(run.createdAt),
    updatedAt: new Date(run.updatedAt),
    version: run.revision,
    queue: run.queue,
    definitionKey: run.definitionKey,
  }
  if (run.completedAt !== null) state.completedAt = new Date(run.completedAt)
  const error = parseStoredError(run.error)
  if (error) state.error = error.message
  if (run.workflowVersion !== null) state.definitionVersion = run.workflowVersion
  if (run.waitingFor !== null) state.waitingFor = run.waitingFor
  if (run.wakeAt !== null) state.wakeAt = new Date(run.wakeAt)
  if (meta.compensate?.length)
    state.pendingCompensations = meta.compensate.map((i) => meta.steps[i]?.[0] ?? String(i))
  return state
}
