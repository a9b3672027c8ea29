/**
 * The origin's `save / load / list / delete` on top of the durable verbs, shared by every adapter
 * so that code written against `@gravito/flux`'s storage interface keeps working.
 */
import { type CheckpointBody, storedStep, toWorkflowState } from '../codec/checkpoint.js'
import { defaultSerializer, type Serializer } from '../codec/codec.js'
import type { WorkflowFilter, WorkflowState, WorkflowStatus, WorkflowStorage } from '../types.js'
import { definitionKey, fnv1a64 } from '../util/hash.js'
import type {
  FluxStore,
  ListRunsParams,
  ListRunsResult,
  ReplacementRun,
  RunRecord,
  RunSnapshot,
} from './contract.js'

/** Turns an origin `WorkflowState` into a run row and one checkpoint holding its whole state. */
export function stateToReplacement(
  state: WorkflowState,
  serializer: Serializer = defaultSerializer,
): ReplacementRun {
  const shape: [string, 's' | 'c'][] = state.history.map((h) => [h.name, 's'])
  const version = state.definitionVersion ?? null
  const storedKey = typeof state.definitionKey === 'string' ? state.definitionKey : undefined
  const hash = storedKey?.includes('#')
    ? storedKey.slice(storedKey.lastIndexOf('#') + 1)
    : fnv1a64(JSON.stringify(shape))
  const now = state.updatedAt instanceof Date ? state.updatedAt.getTime() : Date.now()
  const body: CheckpointBody = {
    h: state.history.map((h, i) => [i, storedStep(h)]),
    d: { ...(state.data as Record<string, unknown>) },
    x: 1,
  }
  const run: RunRecord = {
    id: state.id,
    workflowName: state.name,
    workflowVersion: version,
    definitionHash: hash,
    definitionKey: storedKey ?? definitionKey(state.name, version, hash),
    status: state.status,
    queue: state.queue ?? 'default',
    priority: 0,
    input: serializer.encode(state.input, 'input'),
    cursor: state.currentStep,
    waitingFor: state.waitingFor ?? null,
    wakeAt: state.wakeAt ? state.wakeAt.getTime() : null,
    leaseOwner: null,
    leaseToken: null,
    leaseExpiresAt: null,
    error: state.error ? JSON.stringify({ name: 'Error', message: state.error }) : null,
    meta: JSON.stringify({ steps: shape }),
    createdAt: state.createdAt instanceof Date ? state.createdAt.getTime() : now,
    updatedAt: now,
    completedAt: state.completedAt ? state.completedAt.getTime() : null,
    revision: typeof state.version === 'number' ? state.version : 0,
  }
  return { run, checkpoints: [{ seq: 1, at: now, body: serializer.encode(body, 'state') }] }
}

/** Statuses of an origin filter as a list. */
export function filterStatuses(filter?: WorkflowFilter): WorkflowStatus[] | undefined {
  if (!filter?.status) return undefined
  return Array.isArray(filter.status) ? filter.status : [filter.status]
}

/** `load(id)`: the origin view of one run. */
export async function loadState(
  store: FluxStore,
  id: string,
  serializer: Serializer = defaultSerializer,
): Promise<WorkflowState | null> {
  const snapshot = await store.loadRun(id)
  return snapshot ? toWorkflowState(serializer, snapshot) : null
}

/** `list(filter)`: the origin view of a page of runs, newest first. */
export async function listStates(
  store: FluxStore,
  filter?: WorkflowFilter,
  serializer: Serializer = defaultSerializer,
): Promise<WorkflowState[]> {
  const statuses = filterStatuses(filter)
  const { runs } = await store.listRuns({
    ...(filter?.name !== undefined ? { workflowName: filter.name } : {}),
    ...(statuses ? { statuses } : {}),
    ...(filter?.limit !== undefined ? { limit: filter.limit } : {}),
    ...(filter?.offset !== undefined ? { offset: filter.offset } : {}),
  })
  const states = await Promise.all(runs.map((r) => loadState(store, r.id, serializer)))
  return states.filter((s): s is WorkflowState => s !== null)
}

/**
 * The origin's `save / load / list / delete`, written once on top of the durable verbs. Every
 * adapter extends it, so code written against `@gravito/flux`'s storage interface keeps working
 * on all of them.
 */
export abstract class OriginStorageView implements WorkflowStorage {
  abstract loadRun(id: string): Promise<RunSnapshot | null>
  abstract listRuns(params: ListRunsParams): Promise<ListRunsResult>
  abstract deleteRun(id: string): Promise<boolean>
  abstract replaceRun(params: ReplacementRun): Promise<void>

  /** Overwrites (or creates) a run from an origin `WorkflowState`. */
  async save(state: WorkflowState): Promise<void> {
    await this.replaceRun(stateToReplacement(state))
  }

  async load(id: string): Promise<WorkflowState | null> {
    return loadState(this as unknown as FluxStore, id)
  }

  async list(filter?: WorkflowFilter): Promise<WorkflowState[]> {
    return listStates(this as unknown as FluxStore, filter)
  }

  async delete(id: string): Promise<void> {
    await this.deleteRun(id)
  }
}
