/**
 * Operator actions that need only the store, not the workflow's code: what `flux runs …` and the
 * viewer do. They write the request to storage; a worker that holds the definition carries it
 * out. `FluxEngine.resume` / `retryStep` use the same reset rules and then drive the run itself.
 */
import {
  type CheckpointBody,
  foldSnapshot,
  parseMeta,
  pendingStep,
  type StoredStep,
  storeError,
} from '../codec/checkpoint.js'
import { defaultSerializer, type Serializer } from '../codec/codec.js'
import {
  FluxError,
  InvalidStepError,
  SignalConflictError,
  SignalMismatchError,
  WorkflowCancelledError,
  WorkflowNotFoundError,
  WorkflowNotSuspendedError,
} from '../errors.js'
import type { DeliverSignalResult, FluxStore, RunMeta, RunRecord } from '../storage/contract.js'
import type { WorkflowStatus } from '../types.js'

/** The step records a reset from `start` writes: later steps back to `pending`, completed commits kept unless `recommit`. */
export function resetRecords(
  history: readonly StoredStep[],
  shape: RunMeta['steps'],
  start: number,
  recommit: boolean,
): [number, StoredStep][] {
  const changes: [number, StoredStep][] = []
  for (let i = start; i < shape.length; i++) {
    const [name, kind] = shape[i]!
    const record = history[i] ?? pendingStep(name)
    const isCommit = kind === 'c'
    if (isCommit && record.status === 'completed' && !recommit) continue
    const fresh = pendingStep(name)
    if (isCommit && record.status === 'completed') fresh.generation = (record.generation ?? 0) + 1
    else if (record.generation !== undefined) fresh.generation = record.generation
    changes.push([i, fresh])
  }
  return changes
}

/** Index of `fromStep` among a run's steps, with the origin's messages. */
export function stepIndex(shape: RunMeta['steps'], fromStep: number | string): number {
  if (typeof fromStep === 'number') {
    if (!Number.isInteger(fromStep) || fromStep < 0 || fromStep >= shape.length)
      throw new InvalidStepError(`Invalid step index: ${fromStep}`)
    return fromStep
  }
  const index = shape.findIndex(([name]) => name === fromStep)
  if (index < 0) throw new InvalidStepError(`Step not found: ${fromStep}`)
  return index
}

/** Where a retry without `fromStep` starts: the failed step, or the first undone one after a rollback. */
export function defaultRestart(run: RunRecord, history: readonly StoredStep[], count: number): number {
  let start = Math.max(0, Math.min(run.cursor, count - 1))
  if (run.status === 'rolled_back' || run.status === 'compensation_failed') {
    const first = history.findIndex((h) => h.status === 'compensated' || h.status === 'compensating')
    if (first >= 0) start = Math.min(start, first)
  }
  return start
}

/** Options of {@link requestRetry}. */
export interface RetryRequest {
  /** Step index or name; default: where the run stopped. */
  fromStep?: number | string
  recommit?: boolean
  now?: number
  serializer?: Serializer
}

/**
 * Resets a run from a step and leaves it `pending` for a worker. Refuses a run whose lease is
 * held by a live owner. Returns the updated row.
 */
export async function requestRetry(
  store: FluxStore,
  id: string,
  request: RetryRequest = {},
): Promise<RunRecord> {
  const now = request.now ?? Date.now()
  const serializer = request.serializer ?? defaultSerializer
  const token = `operator/${globalThis.crypto.randomUUID()}`
  const existing = await store.getRun(id)
  if (!existing) throw new WorkflowNotFoundError(id)
  const snapshot = await store.claimRun({
    id,
    lease: { owner: 'operator', token, expiresAt: now + 30_000 },
    now,
  })
  if (!snapshot)
    throw new FluxError(
      `Workflow ${id} is being run by ${existing.leaseOwner ?? 'another owner'}; wait for it or cancel it first`,
    )
  try {
    const meta = parseMeta(snapshot.run)
    const history = foldSnapshot(serializer, snapshot).history
    const start =
      request.fromStep === undefined
        ? defaultRestart(snapshot.run, history, meta.steps.length)
        : stepIndex(meta.steps, request.fromStep)
    const body: CheckpointBody = { h: resetRecords(history, meta.steps, start, request.recommit === true) }
    const cleanMeta: RunMeta = { steps: meta.steps }
    await store.checkpoint({
      id,
      token,
      now,
      patch: {
        status: 'pending',
        cursor: start,
        waitingFor: null,
        wakeAt: null,
        error: null,
        completedAt: null,
        meta: JSON.stringify(cleanMeta),
      },
      body: serializer.encode(body, 'history'),
      release: true,
    })
  } catch (error) {
    await store.release({ id, token, now }).catch(() => undefined)
    throw error
  }
  return (await store.getRun(id))!
}

/** Stores a signal for a worker to act on, with the engine's error messages. */
export async function storeSignal(
  store: FluxStore,
  id: string,
  name: string,
  payload: unknown,
  options: { now?: number; serializer?: Serializer } = {},
): Promise<Extract<DeliverSignalResult, { outcome: 'delivered' | 'queued' }>> {
  const serializer = options.serializer ?? defaultSerializer
  const outcome = await store.deliverSignal({
    id,
    name,
    payload: serializer.encode(payload, 'payload'),
    now: options.now ?? Date.now(),
  })
  switch (outcome.outcome) {
    case 'not-found':
      throw new WorkflowNotFoundError(id)
    case 'ended':
      throw new WorkflowNotSuspendedError(outcome.run.status)
    case 'mismatch':
      throw new SignalMismatchError(outcome.run.waitingFor ?? '', name)
    case 'duplicate':
      throw new SignalConflictError(id, name)
    default:
      return outcome
  }
}

/** Cancels a run that has not ended. Returns its status afterwards. */
export async function cancelStored(
  store: FluxStore,
  id: string,
  reason?: string,
  now = Date.now(),
): Promise<WorkflowStatus> {
  const run = await store.cancelRun({ id, now, error: storeError(new WorkflowCancelledError(reason)) })
  if (!run) throw new WorkflowNotFoundError(id)
  return run.status
}
