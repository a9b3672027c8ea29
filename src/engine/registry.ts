import { parseMeta } from '../codec/checkpoint.js'
import { FluxDefinitionChangedError } from '../errors.js'
import type { RunRecord } from '../storage/contract.js'
import {
  changedSteps,
  type FlowLike,
  type ResolvedDefinition,
  resolveDefinition,
} from '../workflow/definition.js'

/**
 * The definitions an engine can run, several versions per workflow name. A stored run is matched
 * on its `definitionKey` (explicit version, else shape hash), so a deploy that changes a workflow
 * can keep the previous definition registered until its runs drain.
 */
export class Registry {
  readonly #byKey = new Map<string, ResolvedDefinition>()
  readonly #byName = new Map<string, ResolvedDefinition[]>()

  /** Registers a workflow (idempotent) and returns its resolved definition. */
  add(flow: FlowLike): ResolvedDefinition {
    const resolved = resolveDefinition(flow)
    const known = this.#byKey.get(resolved.key)
    if (known) {
      if (known.def !== resolved.def) {
        // Same name and shape (or same explicit version): the newest handlers win.
        this.#byKey.set(resolved.key, resolved)
        const list = this.#byName.get(resolved.name)!
        list[list.indexOf(known)] = resolved
      }
      return resolved
    }
    this.#byKey.set(resolved.key, resolved)
    const list = this.#byName.get(resolved.name) ?? []
    list.push(resolved)
    this.#byName.set(resolved.name, list)
    return resolved
  }

  /** Every registered key, optionally only for some workflow names. */
  keys(names?: readonly string[]): string[] {
    if (!names) return [...this.#byKey.keys()]
    const wanted = new Set(names)
    return [...this.#byKey.values()].filter((r) => wanted.has(r.name)).map((r) => r.key)
  }

  get(key: string): ResolvedDefinition | undefined {
    return this.#byKey.get(key)
  }

  /**
   * The definition that may continue `run`, or a `FluxDefinitionChangedError` naming what changed.
   * With `atHand` (the flow passed to resume/signal) only that definition is acceptable; without
   * it, any registered version that matches the run.
   */
  forRun(run: RunRecord, atHand?: ResolvedDefinition): ResolvedDefinition {
    const preferred = atHand
    if (preferred && preferred.key === run.definitionKey) return preferred
    const hit = preferred ? undefined : this.#byKey.get(run.definitionKey)
    if (hit) return hit
    const candidates = preferred ? [preferred] : (this.#byName.get(run.workflowName) ?? [])
    const stored = parseMeta(run).steps
    const current = candidates[candidates.length - 1]
    if (!current) {
      throw new FluxDefinitionChangedError(
        run.workflowName,
        [],
        'no definition of this workflow is registered in this engine',
      )
    }
    const detail =
      run.workflowVersion !== null || current.version !== null
        ? `run version ${run.workflowVersion ?? '(none)'}, definition version ${current.version ?? '(none)'}`
        : undefined
    throw new FluxDefinitionChangedError(run.workflowName, changedSteps(stored, current.shape), detail)
  }
}
