/**
 * What the viewer server reads from: live storage (`--db`) or a trace file (`--trace`). Both give
 * the same view models, so the page and the API do not care which one is behind them.
 */

import type { Serializer } from '../codec/codec.js'
import { defaultSerializer } from '../codec/codec.js'
import { cancelStored, requestRetry, storeSignal } from '../engine/admin.js'
import type { FluxStore } from '../storage/contract.js'
import { isTerminalStatus } from '../types.js'
import { parseListQuery, runDetailView, runListView, runSummary, toListParams } from './api.js'
import { CliError, EXIT } from './exit-codes.js'
import type { ActionResultView, ListQuery, RunDetailView, RunListView } from './view-model.js'

/** The operator actions; only a store source has them. */
export interface ViewerActions {
  retry(id: string, options: { fromStep?: string | number; recommit?: boolean }): Promise<ActionResultView>
  signal(id: string, name: string, payload: unknown): Promise<ActionResultView>
  cancel(id: string, reason?: string): Promise<ActionResultView>
}

/** A source of runs for the viewer. */
export interface ViewerSource {
  readonly kind: 'db' | 'trace'
  /** What is being shown (file path, or URL without password). */
  readonly label: string
  list(query: ListQuery): Promise<RunListView>
  /** A run's page, or null when there is no such run. */
  run(id: string): Promise<RunDetailView | null>
  /** A number that changes whenever the run does (null: no such run). Cheap; polled for live updates. */
  revision(id: string): Promise<number | null>
  /** Workflow names to offer in the filter (may be partial). */
  workflows(): Promise<string[]>
  /** Present for storage: retry, signal, cancel. */
  readonly actions?: ViewerActions
  /** Calls `listener` when something may have changed; polling stays the fallback. Returns the unsubscribe. */
  watch?(listener: () => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

/** Options of {@link StoreSource}. */
export interface StoreSourceOptions {
  label: string
  serializer?: Serializer
  /** Called by `close()` (closing the store, its pool). */
  onClose?: () => Promise<void>
  now?: () => number
}

/** A viewer source over a durable store: reads with the contract's verbs, acts through engine/admin.ts. */
export class StoreSource implements ViewerSource {
  readonly kind = 'db' as const
  readonly label: string
  readonly actions: ViewerActions
  readonly #store: FluxStore
  readonly #serializer: Serializer
  readonly #onClose: (() => Promise<void>) | undefined
  readonly #now: () => number
  /** Names seen in list pages, for stores we cannot ask for distinct names. */
  readonly #seen = new Set<string>()

  constructor(store: FluxStore, options: StoreSourceOptions) {
    this.#store = store
    this.label = options.label
    this.#serializer = options.serializer ?? defaultSerializer
    this.#onClose = options.onClose
    this.#now = options.now ?? Date.now
    this.actions = {
      retry: (id, o) => this.#retry(id, o),
      signal: (id, name, payload) => this.#signal(id, name, payload),
      cancel: (id, reason) => this.#cancel(id, reason),
    }
  }

  get store(): FluxStore {
    return this.#store
  }

  async list(query: ListQuery): Promise<RunListView> {
    const result = await this.#store.listRuns(toListParams(query))
    for (const run of result.runs) this.#seen.add(run.workflowName)
    return runListView(result, query)
  }

  async run(id: string): Promise<RunDetailView | null> {
    const snapshot = await this.#store.loadRun(id)
    return snapshot ? runDetailView(this.#serializer, snapshot, this.#now()) : null
  }

  async revision(id: string): Promise<number | null> {
    const run = await this.#store.getRun(id)
    return run ? run.revision : null
  }

  async workflows(): Promise<string[]> {
    const names = new Set(this.#seen)
    for (const name of distinctSqliteNames(this.#store)) names.add(name)
    if (names.size === 0) {
      const { runs } = await this.#store.listRuns(
        toListParams(parseListQuery(new URLSearchParams('limit=200'))),
      )
      for (const run of runs) names.add(run.workflowName)
    }
    return [...names].sort()
  }

  watch(listener: () => void): Promise<() => Promise<void>> {
    if (!this.#store.subscribe) return Promise.resolve(async () => undefined)
    return this.#store.subscribe(() => listener())
  }

  async close(): Promise<void> {
    await this.#onClose?.()
  }

  async #retry(
    id: string,
    options: { fromStep?: string | number; recommit?: boolean },
  ): Promise<ActionResultView> {
    const run = await requestRetry(this.#store, id, {
      ...(options.fromStep !== undefined ? { fromStep: options.fromStep } : {}),
      ...(options.recommit ? { recommit: true } : {}),
      serializer: this.#serializer,
      now: this.#now(),
    })
    const view = runSummary(run)
    return {
      ok: true,
      message: `Run ${id} will retry from step "${view.step ?? view.stepIndex}": it is pending until a worker with workflow "${view.workflow}" picks it up`,
      run: view,
    }
  }

  async #signal(id: string, name: string, payload: unknown): Promise<ActionResultView> {
    const outcome = await storeSignal(this.#store, id, name, payload, {
      serializer: this.#serializer,
      now: this.#now(),
    })
    return {
      ok: true,
      message:
        outcome.outcome === 'delivered'
          ? `Signal "${name}" delivered to run ${id}: a worker will continue it`
          : `Signal "${name}" stored for run ${id}: the run will take it when it reaches its wait`,
      run: runSummary(outcome.run),
    }
  }

  async #cancel(id: string, reason?: string): Promise<ActionResultView> {
    // cancelRun leaves an ended run as it is and returns it, so a second cancel would look like
    // a success; read first to say what happened. (The cancel itself stays atomic.)
    const before = await this.#store.getRun(id)
    if (before && isTerminalStatus(before.status))
      throw new CliError(
        `Run ${id} has already ended (status: ${before.status}); there is nothing to cancel`,
        EXIT.refused,
      )
    const status = await cancelStored(this.#store, id, reason, this.#now())
    if (status !== 'cancelled')
      throw new CliError(
        `Run ${id} has already ended (status: ${status}); there is nothing to cancel`,
        EXIT.refused,
      )
    const run = await this.#store.getRun(id)
    return { ok: true, message: `Run ${id} cancelled`, run: run ? runSummary(run) : null }
  }
}

/**
 * Distinct workflow names straight from a SQLite store's runs table (an index scan): the
 * contract has no verb for it, and a filter that only offers the names on the current page is
 * no help with 100 000 runs. Other stores fall back to the names seen so far.
 */
function distinctSqliteNames(store: FluxStore): string[] {
  const sqlite = store as unknown as {
    getDatabase?: () => { prepare(sql: string): { all(): unknown[] } }
    tables?: { runs?: string }
  }
  const table = sqlite.tables?.runs
  if (typeof sqlite.getDatabase !== 'function' || typeof table !== 'string') return []
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) return []
  try {
    const rows = sqlite
      .getDatabase()
      .prepare(`SELECT DISTINCT workflow_name AS name FROM ${table} LIMIT 500`)
      .all()
    return rows.map((row) => String((row as { name: unknown }).name))
  } catch {
    return []
  }
}
