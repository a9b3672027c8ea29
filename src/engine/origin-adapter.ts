/**
 * Lets an origin-style storage (only `save / load / list / delete`) back an engine. Runs are
 * coordinated in memory (leases, mailbox) exactly as with MemoryStorage, and after every change
 * the run's whole `WorkflowState` is saved to the user's storage, in order. Reads fall back to
 * the user's storage for runs this process has not seen. This gives the origin's guarantees
 * (in-process runs, persisted state) — not crash recovery across processes: that needs a store
 * that implements the durable contract.
 */
import { toWorkflowState } from '../codec/checkpoint.js'
import type { Serializer } from '../codec/codec.js'
import { toError } from '../errors.js'
import type {
  CancelRunParams,
  CheckpointParams,
  ClaimDueParams,
  ClaimRunParams,
  CreateRunParams,
  CreateRunResult,
  DeliverSignalParams,
  DeliverSignalResult,
  FluxStore,
  ListRunsParams,
  ListRunsResult,
  ParkParams,
  ParkResult,
  ReleaseParams,
  RenewLeasesParams,
  ReplacementRun,
  RunRecord,
  RunSnapshot,
} from '../storage/contract.js'
import { MemoryStorage } from '../storage/memory/memory-storage.js'
import { stateToReplacement } from '../storage/origin-view.js'
import type { WorkflowStorage } from '../types.js'

export class OriginStorageAdapter implements FluxStore {
  readonly durable = true as const
  readonly #inner = new MemoryStorage()
  readonly #outer: WorkflowStorage
  readonly #serializer: Serializer
  readonly #chains = new Map<string, Promise<void>>()

  constructor(outer: WorkflowStorage, serializer: Serializer) {
    this.#outer = outer
    this.#serializer = serializer
  }

  async init(): Promise<void> {
    await this.#outer.init?.()
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#chains.values()])
    await this.#outer.close?.()
  }

  async createRun(params: CreateRunParams): Promise<CreateRunResult> {
    await this.#adopt(params.run.id)
    const result = await this.#inner.createRun(params)
    if (result.created) await this.#mirror(params.run.id)
    return result
  }

  async loadRun(id: string): Promise<RunSnapshot | null> {
    await this.#adopt(id)
    return this.#inner.loadRun(id)
  }

  async getRun(id: string): Promise<RunRecord | null> {
    await this.#adopt(id)
    return this.#inner.getRun(id)
  }

  async listRuns(params: ListRunsParams): Promise<ListRunsResult> {
    // The user's storage is the source of truth for listing: adopt what it has first.
    const states = await this.#outer.list(
      params.workflowName !== undefined ? { name: params.workflowName } : undefined,
    )
    for (const state of states) await this.#adopt(state.id)
    return this.#inner.listRuns(params)
  }

  async claimRun(params: ClaimRunParams): Promise<RunSnapshot | null> {
    await this.#adopt(params.id)
    return this.#inner.claimRun(params)
  }

  claimDue(params: ClaimDueParams): Promise<RunSnapshot[]> {
    return this.#inner.claimDue(params)
  }

  checkpoint(params: CheckpointParams): Promise<void> {
    const applied = this.#inner.checkpoint(params)
    return applied.then(() => this.#mirror(params.id))
  }

  async park(params: ParkParams): Promise<ParkResult> {
    const result = await this.#inner.park(params)
    if (result.parked) await this.#mirror(params.id)
    return result
  }

  renewLeases(params: RenewLeasesParams): Promise<string[]> {
    return this.#inner.renewLeases(params)
  }

  release(params: ReleaseParams): Promise<void> {
    return this.#inner.release(params)
  }

  async deliverSignal(params: DeliverSignalParams): Promise<DeliverSignalResult> {
    await this.#adopt(params.id)
    return this.#inner.deliverSignal(params)
  }

  async cancelRun(params: CancelRunParams): Promise<RunRecord | null> {
    await this.#adopt(params.id)
    const run = await this.#inner.cancelRun(params)
    if (run) await this.#mirror(params.id)
    return run
  }

  async deleteRun(id: string): Promise<boolean> {
    const removed = await this.#inner.deleteRun(id)
    await this.#outer.delete(id)
    return removed
  }

  async replaceRun(params: ReplacementRun): Promise<void> {
    await this.#inner.replaceRun(params)
    await this.#mirror(params.run.id)
  }

  /** Imports a run from the user's storage the first time this process sees its id. */
  async #adopt(id: string): Promise<void> {
    if (await this.#inner.getRun(id)) return
    const state = await this.#outer.load(id)
    if (state && !(await this.#inner.getRun(id)))
      await this.#inner.replaceRun(stateToReplacement(state, this.#serializer))
  }

  /** Saves the run's state to the user's storage, after any save already queued for it. */
  #mirror(id: string): Promise<void> {
    const previous = this.#chains.get(id) ?? Promise.resolve()
    const next = previous.then(async () => {
      const snapshot = await this.#inner.loadRun(id)
      if (snapshot) await this.#outer.save(toWorkflowState(this.#serializer, snapshot))
    })
    const tail = next.catch((error: unknown) => {
      throw new Error(`Custom storage save failed for ${id}: ${toError(error).message}`)
    })
    this.#chains.set(
      id,
      tail.catch(() => undefined),
    )
    return tail
  }
}
