import { FluxDefinitionError } from '../errors.js'
import type { StepDefinition, WorkflowDefinition } from '../types.js'
import { definitionKey, fnv1a64 } from '../util/hash.js'
import { WorkflowBuilder } from './builder.js'
import { validateStepOptions } from './validate.js'

/** A definition with what the engine derives from it, computed once. */
export interface ResolvedDefinition {
  readonly def: WorkflowDefinition<any, any>
  readonly name: string
  readonly version: string | null
  /** Hash of step names and kinds. */
  readonly hash: string
  /** `name@version` or `name#hash`: what a stored run is matched against. */
  readonly key: string
  /** Step names and kinds, stored with every run for change reports. */
  readonly shape: [string, 's' | 'c'][]
  /** `shape` with the viewer's flags (`w` when, `u` compensate), as stored in the run meta. */
  readonly metaSteps: [string, 's' | 'c', string?][]
  /** The run meta a new run of this definition starts with (computed once). */
  readonly metaJson: string
  readonly indexByName: ReadonlyMap<string, number>
}

/** Anything the engine accepts as a workflow. */
export type FlowLike<TInput = any, TData = any> =
  | WorkflowBuilder<TInput, TData>
  | WorkflowDefinition<TInput, TData>

export { definitionKey, fnv1a64 }

const cache = new WeakMap<object, ResolvedDefinition>()

/** Builds (if needed), checks and caches a definition. */
export function resolveDefinition(flow: FlowLike): ResolvedDefinition {
  if (flow instanceof WorkflowBuilder) return resolveDefinition(flow.build())
  if (flow === null || typeof flow !== 'object') {
    throw new FluxDefinitionError('Expected a workflow builder or definition')
  }
  const hit = cache.get(flow)
  if (hit) return hit
  const resolved = resolvePlain(flow)
  cache.set(flow, resolved)
  return resolved
}

function resolvePlain(def: WorkflowDefinition<any, any>): ResolvedDefinition {
  if (typeof def.name !== 'string' || def.name.trim() === '') {
    throw new FluxDefinitionError('Workflow definition needs a non-empty name')
  }
  if (!Array.isArray(def.steps) || def.steps.length === 0) {
    throw new FluxDefinitionError(`Workflow "${def.name}" has no steps`)
  }
  const indexByName = new Map<string, number>()
  def.steps.forEach((step: StepDefinition<any, any>, i: number) => {
    const where = `Workflow "${def.name}"`
    if (!step || typeof step.name !== 'string' || step.name.trim() === '') {
      throw new FluxDefinitionError(`${where}: step ${i} needs a non-empty name`)
    }
    if (indexByName.has(step.name))
      throw new FluxDefinitionError(`${where}: duplicate step name "${step.name}"`)
    if (typeof step.handler !== 'function') {
      throw new FluxDefinitionError(`${where}: step "${step.name}" needs a handler function`)
    }
    validateStepOptions(where, step.name, step, Boolean(step.commit))
    indexByName.set(step.name, i)
  })
  const shape: [string, 's' | 'c'][] = def.steps.map((s) => [s.name, s.commit ? 'c' : 's'])
  const hash = fnv1a64(JSON.stringify(shape))
  // What the run stores: the shape, plus flags the viewer draws (not part of the hash).
  const metaSteps: [string, 's' | 'c', string?][] = def.steps.map((s, i) => {
    const flags = `${typeof s.when === 'function' ? 'w' : ''}${typeof s.compensate === 'function' ? 'u' : ''}`
    return flags ? [shape[i]![0], shape[i]![1], flags] : [shape[i]![0], shape[i]![1]]
  })
  const version = typeof def.version === 'string' && def.version !== '' ? def.version : null
  return Object.freeze({
    def,
    name: def.name,
    version,
    hash,
    key: definitionKey(def.name, version, hash),
    shape,
    metaSteps,
    metaJson: JSON.stringify({ steps: metaSteps }),
    indexByName,
  })
}

/** Names of the steps that differ between a stored shape and a definition's. */
export function changedSteps(
  stored: readonly (readonly [string, string, string?])[],
  current: readonly (readonly [string, string, string?])[],
): string[] {
  const changed = new Set<string>()
  const length = Math.max(stored.length, current.length)
  for (let i = 0; i < length; i++) {
    const a = stored[i]
    const b = current[i]
    if (a && b && a[0] === b[0] && a[1] === b[1]) continue
    if (a) changed.add(a[0])
    if (b) changed.add(b[0])
  }
  return [...changed]
}
