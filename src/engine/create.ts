/**
 * Creating a run: input checks, the stored row, and the create write itself.
 */
import { InvalidInputError } from '../errors.js'
import type { NewRun, RunSnapshot } from '../storage/contract.js'
import type { ResolvedDefinition } from '../workflow/definition.js'
import type { EngineCore } from './core.js'
import type { Driver } from './driver.js'
import type { EnqueueOptions } from './engine.js'

/** `.validate()` and `.schema()` of the definition; `Invalid input` with the issues. */
export async function validateInput(resolved: ResolvedDefinition, input: unknown): Promise<void> {
  const { def } = resolved
  if (def.validateInput && !def.validateInput(input)) throw new InvalidInputError(def.name)
  if (def.schema) {
    const outcome = await def.schema['~standard'].validate(input)
    if (outcome.issues) throw new InvalidInputError(def.name, outcome.issues)
  }
}

/** A new run id. */
export function randomId(): string {
  return globalThis.crypto.randomUUID()
}

/**
 * Stores a new run (`running` and leased by this engine, or `pending` for a worker), unless one
 * with that id exists: then nothing is written and `created` is false.
 * `deferSync`: the caller reports nothing before a later synced write (`execute`), so the create
 * need not be fsynced itself; `start`/`enqueue` hand the id out at once and sync it.
 */
export async function createRun(
  core: EngineCore,
  driver: Driver,
  resolved: ResolvedDefinition,
  input: unknown,
  options: EnqueueOptions,
  status: 'running' | 'pending',
  deferSync: boolean,
): Promise<{ created: boolean; snapshot: RunSnapshot }> {
  const now = core.clock.now()
  const run: NewRun = {
    id: options.id ?? randomId(),
    workflowName: resolved.name,
    workflowVersion: resolved.version,
    definitionHash: resolved.hash,
    definitionKey: resolved.key,
    status,
    queue: options.queue ?? 'default',
    priority: options.priority ?? 0,
    input: core.serializer.encode(input, 'input'),
    cursor: 0,
    waitingFor: null,
    wakeAt: options.delay ? now + options.delay : null,
    error: null,
    meta: resolved.metaJson,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  }
  const lease = status === 'running' ? driver.lease() : undefined
  const result = await core.store.createRun(lease ? { run, lease, sync: !deferSync } : { run })
  return { created: result.created, snapshot: { run: result.run, checkpoints: [], signals: [] } }
}
