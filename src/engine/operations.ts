/**
 * The operator-facing operations: resume / retryStep, signal, cancel.
 */
import { parseMeta, pendingStep, type StoredStep, storeError } from '../codec/checkpoint.js'
import {
  FluxError,
  InvalidStepError,
  SignalConflictError,
  SignalMismatchError,
  WorkflowCancelledError,
  WorkflowNotFoundError,
  WorkflowNotSuspendedError,
} from '../errors.js'
import type { RunSnapshot } from '../storage/contract.js'
import type { FluxResult } from '../types.js'
import type { ResolvedDefinition } from '../workflow/definition.js'
import type { Driver } from './driver.js'
import { RunState } from './run-state.js'

/** Options of `resume`. */
export interface ResumeOptions {
  /** Index or name of the step to continue from. Default: where the run stopped. */
  fromStep?: number | string
  /** Re-run completed commits on the way (with a new idempotency key). Default false. */
  recommit?: boolean
}

/** Options of `signal`. */
export interface SignalOptions {
  /**
   * `true` (default): this process continues the woken run and resolves with its result.
   * `false`: only store the signal and resolve at once; a worker continues the run.
   */
  wait?: boolean
}

/** Index of `fromStep`, with the origin's error messages. */
export function resolveStartIndex(
  resolved: ResolvedDefinition,
  fromStep: number | string | undefined,
  fallback: number,
): number {
  const count = resolved.def.steps.length
  if (typeof fromStep === 'number') {
    if (!Number.isInteger(fromStep) || fromStep < 0 || fromStep >= count)
      throw new InvalidStepError(`Invalid step index: ${fromStep}`)
    return fromStep
  }
  if (typeof fromStep === 'string') {
    const index = resolved.indexByName.get(fromStep)
    if (index === undefined) throw new InvalidStepError(`Step not found: ${fromStep}`)
    return index
  }
  return Math.max(0, Math.min(fallback, count - 1))
}

export async function resumeRun(
  driver: Driver,
  preferred: ResolvedDefinition,
  id: string,
  options: ResumeOptions,
): Promise<FluxResult | null> {
  const core = driver.core
  const startedAt = core.clock.now()
  const existing = await core.store.getRun(id)
  if (!existing) return null
  if (existing.workflowName !== preferred.name) {
    throw new FluxError(
      `Workflow name mismatch: ${existing.workflowName} !== ${preferred.name}`,
      'DEFINITION_CHANGED',
    )
  }
  const resolved = driver.registry.forRun(existing, preferred)
  // Validate the step before touching anything.
  const explicit =
    options.fromStep !== undefined ? resolveStartIndex(resolved, options.fromStep, 0) : undefined
  if (existing.status === 'completed' && explicit === undefined) return driver.resultFromStore(id, startedAt)
  const snapshot = await driver.claim(id, [
    'pending',
    'running',
    'rolling_back',
    'suspended',
    'paused',
    'completed',
    'failed',
    'rolled_back',
    'compensation_failed',
    'cancelled',
  ])
  if (!snapshot) {
    throw new FluxError(
      `Workflow ${id} is being run by another owner (${existing.leaseOwner ?? 'unknown'}); wait for it or cancel it first`,
    )
  }
  const state = new RunState(core, resolved, snapshot, core.serializer.decode(snapshot.run.input))
  const run = snapshot.run
  if (explicit === undefined && run.status === 'compensation_failed') {
    // Finish the rollback an operator was asked to look at.
    state.status = 'rolling_back'
    state.write()
    return continueClaimed(driver, snapshot, state, resolved, startedAt)
  }
  let start = explicit ?? resolveStartIndex(resolved, undefined, run.cursor)
  if (explicit === undefined && run.status === 'rolled_back') {
    // Everything from the first undone step has to be redone.
    const first = state.history.findIndex((h) => h.status === 'compensated')
    if (first >= 0) start = Math.min(start, first)
  }
  if (
    explicit === undefined &&
    (run.status === 'running' || run.status === 'pending' || run.status === 'suspended')
  ) {
    // Nothing to reset: just continue it.
    return continueClaimed(driver, snapshot, state, resolved, startedAt)
  }
  resetFrom(state, resolved, start, options.recommit === true)
  state.status = 'running'
  state.cursor = start
  state.waitingFor = null
  state.wakeAt = null
  state.error = null
  state.setMeta({ steps: parseMeta(run).steps })
  state.write({ body: state.encodeBody(false) })
  return continueClaimed(driver, snapshot, state, resolved, startedAt)
}

/** Sets steps from `start` back to pending; completed commits keep their outcome unless `recommit`. */
function resetFrom(state: RunState, resolved: ResolvedDefinition, start: number, recommit: boolean): void {
  const steps = resolved.def.steps
  for (let i = start; i < steps.length; i++) {
    const record = state.history[i]!
    if (steps[i]!.commit && record.status === 'completed' && !recommit) continue
    const fresh: StoredStep = pendingStep(steps[i]!.name)
    if (steps[i]!.commit && record.status === 'completed') fresh.generation = (record.generation ?? 0) + 1
    else if (record.generation !== undefined) fresh.generation = record.generation
    state.setStep(i, fresh)
  }
}

/** Continues a claimed run whose reset writes were issued on `state`. */
async function continueClaimed(
  driver: Driver,
  snapshot: RunSnapshot,
  state: RunState,
  resolved: ResolvedDefinition,
  startedAt: number,
): Promise<FluxResult> {
  await state.barrier()
  const fresh = await driver.core.store.loadRun(snapshot.run.id)
  if (!fresh) throw new WorkflowNotFoundError(snapshot.run.id)
  return driver.runToRest(fresh, resolved, 'resume', startedAt)
}

export async function signalRun(
  driver: Driver,
  resolved: ResolvedDefinition,
  id: string,
  name: string,
  payload: unknown,
  options: SignalOptions,
): Promise<FluxResult> {
  const core = driver.core
  const startedAt = core.clock.now()
  const encoded = core.serializer.encode(payload, 'payload')
  const outcome = await core.store.deliverSignal({ id, name, payload: encoded, now: core.clock.now() })
  switch (outcome.outcome) {
    case 'not-found':
      throw new WorkflowNotFoundError(id)
    case 'ended':
      throw new WorkflowNotSuspendedError(outcome.run.status)
    case 'mismatch':
      throw new SignalMismatchError(outcome.run.waitingFor ?? '', name)
    case 'duplicate':
      throw new SignalConflictError(id, name)
    case 'queued':
      await trace(driver, id, outcome.run.workflowName, name, payload, 'queued')
      return driver.resultFromStore(id, startedAt)
    case 'delivered': {
      await trace(driver, id, outcome.run.workflowName, name, payload, 'delivered')
      if (options.wait === false) return driver.resultFromStore(id, startedAt)
      const definition = driver.registry.forRun(outcome.run, resolved)
      const snapshot = await driver.claim(id, ['suspended'])
      if (snapshot) return driver.runToRest(snapshot, definition, 'resume', startedAt)
      return driver.settle(id, startedAt)
    }
  }
}

async function trace(
  driver: Driver,
  id: string,
  workflowName: string,
  name: string,
  payload: unknown,
  outcome: string,
): Promise<void> {
  const { emitter, clock } = driver.core
  if (!emitter.tracing) return
  await emitter.trace({
    type: 'signal:received',
    timestamp: clock.now(),
    workflowId: id,
    workflowName,
    input: payload,
    meta: { signal: name, outcome },
  })
}

export async function cancelRun(driver: Driver, id: string, reason?: string): Promise<boolean> {
  const core = driver.core
  const error = new WorkflowCancelledError(reason)
  const run = await core.store.cancelRun({ id, now: core.clock.now(), error: storeError(error) })
  if (!run) throw new WorkflowNotFoundError(id)
  const local = driver.active.get(id)
  if (local && !local.controller.signal.aborted) local.controller.abort(error)
  if (run.status === 'cancelled' && core.emitter.tracing) {
    await core.emitter.trace({
      type: 'workflow:cancel',
      timestamp: core.clock.now(),
      workflowId: id,
      workflowName: run.workflowName,
      status: 'cancelled',
      ...(reason !== undefined ? { error: reason } : {}),
    })
  }
  return run.status === 'cancelled'
}
