/**
 * The operator-facing operations: resume / retryStep, signal, cancel.
 */
import { parseMeta } from '../codec/checkpoint.js'
import { FluxError, WorkflowCancelledError, WorkflowNotFoundError } from '../errors.js'
import type { RunSnapshot } from '../storage/contract.js'
import { type FluxResult, WORKFLOW_STATUSES } from '../types.js'
import type { ResolvedDefinition } from '../workflow/definition.js'
import { cancelStored, defaultRestart, resetRecords, stepIndex, storeSignal } from './admin.js'
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
  const explicit = options.fromStep !== undefined ? stepIndex(resolved.shape, options.fromStep) : undefined
  if (existing.status === 'completed' && explicit === undefined) return driver.resultFromStore(id, startedAt)
  const snapshot = await driver.claim(id, WORKFLOW_STATUSES)
  if (!snapshot) {
    throw new FluxError(
      `Workflow ${id} is being run by ${existing.leaseOwner ?? 'another owner'}; wait for it or cancel it first`,
    )
  }
  const state = new RunState(core, resolved, snapshot, core.serializer.decode(snapshot.run.input))
  const { run } = snapshot
  const active =
    run.status === 'running' ||
    run.status === 'pending' ||
    run.status === 'suspended' ||
    run.status === 'rolling_back'
  if (explicit === undefined && active) return continueClaimed(driver, snapshot, state, resolved, startedAt)
  if (explicit === undefined && run.status === 'compensation_failed') {
    // Finish the rollback an operator was asked to look at.
    state.status = 'rolling_back'
    state.write()
    return continueClaimed(driver, snapshot, state, resolved, startedAt)
  }
  const start = explicit ?? defaultRestart(run, state.history, resolved.shape.length)
  for (const [i, record] of resetRecords(state.history, resolved.shape, start, options.recommit === true))
    state.setStep(i, record)
  state.status = 'running'
  state.cursor = start
  state.waitingFor = null
  state.wakeAt = null
  state.error = null
  state.setMeta({ steps: parseMeta(run).steps })
  state.write({ body: state.encodeBody(false) })
  return continueClaimed(driver, snapshot, state, resolved, startedAt)
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
  const outcome = await storeSignal(core.store, id, name, payload, {
    now: core.clock.now(),
    serializer: core.serializer,
  })
  await trace(driver, id, outcome.run.workflowName, name, payload, outcome.outcome)
  if (outcome.outcome === 'queued' || options.wait === false) return driver.resultFromStore(id, startedAt)
  const definition = driver.registry.forRun(outcome.run, resolved)
  const snapshot = await driver.claim(id, ['suspended'])
  if (snapshot) return driver.runToRest(snapshot, definition, 'resume', startedAt)
  return driver.settle(id, startedAt)
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
  const status = await cancelStored(core.store, id, reason, core.clock.now())
  if (status !== 'cancelled') return false
  const local = driver.active.get(id)
  if (local && !local.control.aborted) local.control.abort(new WorkflowCancelledError(reason))
  if (core.emitter.tracing) {
    const run = await core.store.getRun(id)
    await core.emitter.trace({
      type: 'workflow:cancel',
      timestamp: core.clock.now(),
      workflowId: id,
      workflowName: run?.workflowName ?? '',
      status: 'cancelled',
      ...(reason !== undefined ? { error: reason } : {}),
    })
  }
  return true
}
