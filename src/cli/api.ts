/**
 * Pure functions from stored runs to the viewer's view models (view-model.ts): the runs list
 * page, and a run's detail with its timeline, its graph and `ctx.data` before/after each
 * checkpoint. No I/O here: the server and `flux runs` feed them what the store returned.
 */
import {
  applyBody,
  decodeBody,
  type FoldedRun,
  parseMeta,
  parseStoredError,
  pendingStep,
  type StoredStep,
} from '../codec/checkpoint.js'
import type { Serializer } from '../codec/codec.js'
import type { ListRunsParams, ListRunsResult, RunMeta, RunRecord, RunSnapshot } from '../storage/contract.js'
import type { WorkflowStatus } from '../types.js'
import { diffData, pretty } from './pretty.js'
import type {
  AttemptView,
  CheckpointView,
  GraphNodeView,
  ListQuery,
  RunDetailView,
  RunListView,
  RunSummaryView,
  StepView,
} from './view-model.js'

/** Every run status, in the order filters show them. */
export const RUN_STATUSES: readonly WorkflowStatus[] = Object.freeze([
  'pending',
  'running',
  'suspended',
  'rolling_back',
  'completed',
  'failed',
  'rolled_back',
  'compensation_failed',
  'cancelled',
  'paused',
])

/** Largest page the list API serves. */
export const MAX_PAGE = 500
/** Page size when none is asked for. */
export const DEFAULT_PAGE = 50

/** A request the API cannot serve; the server answers 400 with its message. */
export class BadRequestError extends Error {
  override name = 'BadRequestError'
}

/**
 * Reads list filters from query parameters: `workflow`, `status` (comma-separated), `q` (id
 * prefix), `from`/`to` (ISO time or epoch ms), `limit`, `offset`. Rejects what it cannot read
 * rather than guessing.
 */
export function parseListQuery(params: URLSearchParams): ListQuery {
  const query: ListQuery = {
    limit: intParam(params, 'limit', DEFAULT_PAGE, 1, MAX_PAGE),
    offset: intParam(params, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
  }
  const workflow = params.get('workflow')?.trim()
  if (workflow) query.workflow = workflow
  const status = params.get('status')?.trim()
  if (status) query.statuses = parseStatuses(status)
  const q = params.get('q')?.trim()
  if (q) query.idPrefix = q
  const from = params.get('from')?.trim()
  if (from) query.from = parseTime(from, 'from')
  const to = params.get('to')?.trim()
  if (to) query.to = parseTime(to, 'to')
  return query
}

/** Status names from `a,b,c`, each checked. */
export function parseStatuses(text: string): WorkflowStatus[] {
  const statuses = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const s of statuses) {
    if (!RUN_STATUSES.includes(s as WorkflowStatus))
      throw new BadRequestError(`Unknown status "${s}": use one of ${RUN_STATUSES.join(', ')}`)
  }
  return statuses as WorkflowStatus[]
}

/** An epoch-ms number or anything `Date.parse` reads. */
export function parseTime(text: string, what: string): number {
  const time = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isFinite(time)) throw new BadRequestError(`Cannot read ${what} "${text}" as a time`)
  return time
}

function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = params.get(name)
  if (text === null || text.trim() === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max)
    throw new BadRequestError(`${name} must be a whole number from ${min} to ${max}, not "${text}"`)
  return value
}

/** The store's list parameters for a query. */
export function toListParams(query: ListQuery): ListRunsParams {
  const params: ListRunsParams = { limit: query.limit, offset: query.offset }
  if (query.workflow !== undefined) params.workflowName = query.workflow
  if (query.statuses !== undefined && query.statuses.length > 0) params.statuses = query.statuses
  if (query.idPrefix !== undefined) params.idPrefix = query.idPrefix
  if (query.from !== undefined) params.createdAfter = query.from
  if (query.to !== undefined) params.createdBefore = query.to
  return params
}

/** Step shape of a run; a corrupt meta gives an empty shape rather than a broken list. */
function shapeOf(run: RunRecord): RunMeta {
  try {
    return parseMeta(run)
  } catch {
    return { steps: [] }
  }
}

/** One row of the list. */
export function runSummary(run: RunRecord): RunSummaryView {
  const meta = shapeOf(run)
  return {
    id: run.id,
    workflow: run.workflowName,
    version: run.workflowVersion,
    status: run.status,
    step: meta.steps[run.cursor]?.[0] ?? null,
    stepIndex: run.cursor,
    stepCount: meta.steps.length,
    waitingFor: run.waitingFor,
    wakeAt: run.wakeAt,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    completedAt: run.completedAt,
    revision: run.revision,
    error: parseStoredError(run.error)?.message ?? null,
  }
}

/** A page of the list. */
export function runListView(result: ListRunsResult, query: Pick<ListQuery, 'limit' | 'offset'>): RunListView {
  return { runs: result.runs.map(runSummary), total: result.total, limit: query.limit, offset: query.offset }
}

/** Decodes a value for display; a corrupt one shows why rather than failing the page. */
function decodeShown(serializer: Serializer, text: string, what: string): string {
  try {
    return pretty(serializer.decode(text))
  } catch (error) {
    return `[${what} cannot be decoded: ${error instanceof Error ? error.message : String(error)}]`
  }
}

/**
 * A run's page: the checkpoints are folded one by one (the same fold the engine uses), keeping
 * what each changed in `ctx.data` and every failed attempt each recorded, so retries, backoff
 * waits and compensations are visible even though the run row only holds the latest state.
 */
export function runDetailView(serializer: Serializer, snapshot: RunSnapshot, now: number): RunDetailView {
  const { run } = snapshot
  const meta = shapeOf(run)
  const state: FoldedRun = { history: meta.steps.map(([name]) => pendingStep(name)), data: {}, signals: {} }
  const checkpoints: CheckpointView[] = []
  const attempts = new Map<number, AttemptView[]>()
  const compensationStart = new Map<number, number>()
  const changesByStep = new Map<number, StepView['changes']>()
  let lastAt = run.updatedAt
  for (const cp of snapshot.checkpoints) {
    lastAt = Math.max(lastAt, cp.at)
    const body = decodeBody(serializer, run.id, cp.seq, cp.body)
    const before = { ...state.data }
    // Keys the checkpoint may have changed, in a stable order: existing keys as they were, then new ones.
    const written = new Set<string>([...Object.keys(body.d ?? {}), ...(body.u ?? [])])
    const touched = [
      ...Object.keys(before).filter((key) => body.x === 1 || written.has(key)),
      ...[...written].filter((key) => !Object.hasOwn(before, key)),
    ]
    const previous = state.history.slice()
    applyBody(state, body)
    const changes = diffData(before, state.data, touched)
    const steps: CheckpointView['steps'] = []
    for (const [index, record] of body.h ?? []) {
      steps.push({ index, name: record.name, status: record.status })
      noteAttempt(attempts, index, previous[index], record, cp.at)
      if (record.status === 'compensating' && previous[index]?.status !== 'compensating')
        compensationStart.set(index, cp.at)
      if (changes.length > 0 && (record.status === 'completed' || record.status === 'failed')) {
        const list = changesByStep.get(index) ?? []
        list.push({ seq: cp.seq, at: cp.at, changes })
        changesByStep.set(index, list)
      }
    }
    checkpoints.push({ seq: cp.seq, at: cp.at, steps, replaced: body.x === 1, changes })
  }

  const steps = state.history.map((record, index): StepView => {
    const kind = meta.steps[index]?.[1] === 'c' ? 'commit' : 'step'
    return stepView(record, index, kind, {
      attempts: attempts.get(index) ?? [],
      compensationStart: compensationStart.get(index),
      changes: changesByStep.get(index) ?? [],
    })
  })
  const compensate = (meta.compensate ?? []).map((i) => meta.steps[i]?.[0] ?? String(i))
  const stored = parseStoredError(run.error)
  // A run still moving or waiting: its timeline reaches now (a wait's length is the point).
  const active =
    run.status === 'running' ||
    run.status === 'rolling_back' ||
    run.status === 'pending' ||
    run.status === 'suspended'
  const end = Math.max(lastAt, ...steps.flatMap(stepTimes), active ? now : run.updatedAt)
  return {
    source: 'db',
    run: {
      ...runSummary(run),
      queue: run.queue,
      definitionKey: run.definitionKey,
      leaseOwner: run.leaseOwner,
      leaseExpiresAt: run.leaseExpiresAt,
      compensate,
    },
    input: decodeShown(serializer, run.input, 'input'),
    data: pretty(state.data),
    steps,
    checkpoints,
    graph: graphNodes(
      steps,
      run,
      meta.steps.map((entry) => entry[2]),
    ),
    signals: {
      received: steps
        .filter((s) => s.waitingFor !== null && s.status !== 'suspended' && s.output !== null)
        .map((s) => ({ name: s.waitingFor!, step: s.name, at: s.completedAt, payload: s.output! })),
      pending: snapshot.signals.map((s) => ({
        name: s.name,
        at: s.at,
        payload: decodeShown(serializer, s.payload, 'payload'),
      })),
    },
    error: stored
      ? { name: stored.name, message: stored.message, stack: stored.stack ?? null, code: stored.code ?? null }
      : null,
    timeline: { start: run.createdAt, end: Math.max(end, run.createdAt + 1) },
  }
}

/** Records a failed attempt when a checkpoint carries a new error for a step. */
function noteAttempt(
  attempts: Map<number, AttemptView[]>,
  index: number,
  previous: StoredStep | undefined,
  record: StoredStep,
  at: number,
): void {
  if (record.error === undefined) return
  const retrying = record.status === 'running' && record.wakeAt !== undefined
  const final = record.status === 'failed'
  if (!retrying && !final) return
  // A later checkpoint that carries the same record again is not a new attempt. (After an
  // operator's retry the count restarts at 1, and those attempts are listed again, in order.)
  if (
    previous?.status === record.status &&
    previous.attempts === record.attempts &&
    previous.error === record.error
  )
    return
  const list = attempts.get(index) ?? []
  list.push({
    attempt: record.attempts,
    // A final failure carries its own time; the checkpoint may be written a moment later.
    at: final ? (record.completedAt ?? at) : at,
    error: record.error,
    backoffUntil: retrying ? (record.wakeAt ?? null) : null,
  })
  attempts.set(index, list)
}

/** The public view of a folded step record. */
export function stepView(
  record: StoredStep,
  index: number,
  kind: 'step' | 'commit',
  extra: { attempts: AttemptView[]; compensationStart: number | undefined; changes: StepView['changes'] },
): StepView {
  const compensated = record.status === 'compensated' || record.status === 'compensating'
  return {
    index,
    name: record.name,
    kind,
    status: record.status,
    attempts: record.attempts,
    retries: record.retries,
    startedAt: record.startedAt ?? null,
    completedAt: record.completedAt ?? null,
    suspendedAt: record.suspendedAt ?? null,
    wakeAt: record.wakeAt ?? null,
    waitingFor: record.waitingFor ?? null,
    duration: record.duration ?? null,
    error: record.error ?? null,
    output: 'output' in record ? pretty(record.output) : null,
    failedAttempts: extra.attempts,
    compensation: compensated
      ? {
          startedAt: extra.compensationStart ?? null,
          compensatedAt: record.compensatedAt ?? null,
          error: record.status === 'compensating' ? (record.error ?? null) : null,
        }
      : null,
    changes: extra.changes,
  }
}

function stepTimes(step: StepView): number[] {
  const times = [step.startedAt, step.completedAt, step.suspendedAt, step.compensation?.compensatedAt ?? null]
  if (step.status === 'running' && step.wakeAt !== null) times.push(step.wakeAt)
  for (const a of step.failedAttempts) times.push(a.at)
  return times.filter((t): t is number => t !== null)
}

/** The graph's nodes: each step with where the run's path stands on it. */
export function graphNodes(
  steps: readonly StepView[],
  run: Pick<RunRecord, 'cursor' | 'status'>,
  flags: readonly (string | undefined)[] = [],
): GraphNodeView[] {
  const ended = run.status === 'completed' || run.status === 'cancelled'
  return steps.map((step) => {
    let state: GraphNodeView['state']
    switch (step.status) {
      case 'completed':
        state = 'completed'
        break
      case 'skipped':
      case 'failed':
      case 'compensated':
      case 'compensating':
      case 'suspended':
        state = step.status
        break
      case 'running':
        state = 'current'
        break
      default:
        state = !ended && step.index === run.cursor && run.status !== 'failed' ? 'current' : 'pending'
    }
    const flag = flags[step.index] ?? ''
    return {
      index: step.index,
      name: step.name,
      kind: step.kind,
      conditional: flag.includes('w'),
      compensable: flag.includes('u'),
      state,
    }
  })
}
