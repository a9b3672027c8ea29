import { FluxDefinitionError } from '../errors.js'
import type {
  StandardSchemaV1,
  StepDefinition,
  StepDescriptor,
  StepHandlerResult,
  StepOptions,
  WorkflowContext,
  WorkflowDefinition,
  WorkflowDescriptor,
} from '../types.js'
import { validateStepOptions } from './validate.js'

/** Options of a commit step: everything but `compensate` (a side effect that must not be undone by us). */
export type CommitOptions<TInput, TData> = Omit<StepOptions<TInput, TData>, 'compensate'>

/**
 * Chainable, type-safe workflow builder.
 *
 * @example
 * ```ts
 * const order = createWorkflow('order')
 *   .input<{ orderId: string }>()
 *   .data<{ total?: number }>()
 *   .step('price', (ctx) => { ctx.data.total = 42 })
 *   .commit('charge', async (ctx) => { await payments.charge(ctx.input.orderId, ctx.idempotencyKey) })
 * ```
 */
export class WorkflowBuilder<TInput = unknown, TData = Record<string, any>> {
  readonly #name: string
  #version: string | undefined
  #guard: ((input: unknown) => boolean) | undefined
  #schema: StandardSchemaV1<any> | undefined
  readonly #steps: StepDefinition<TInput, TData>[] = []
  /** Cached result of build(); dropped by every change. */
  #built: WorkflowDefinition<TInput, TData> | undefined

  constructor(name: string) {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new FluxDefinitionError('Workflow name must be a non-empty string')
    }
    this.#name = name
  }

  /** Workflow name. */
  get name(): string {
    return this.#name
  }

  /** Number of steps so far. */
  get stepCount(): number {
    return this.#steps.length
  }

  /** Declares the input type (type only). */
  input<T>(): WorkflowBuilder<T, TData> {
    return this as unknown as WorkflowBuilder<T, TData>
  }

  /** Declares the type of `ctx.data` (type only). */
  data<T>(): WorkflowBuilder<TInput, T> {
    return this as unknown as WorkflowBuilder<TInput, T>
  }

  /**
   * Explicit definition version. Runs store it; a definition with the same version is allowed to
   * continue them even if its steps changed (you assert compatibility).
   */
  version(version: string): this {
    if (typeof version !== 'string' || version.trim() === '') {
      throw new FluxDefinitionError(`Workflow "${this.#name}": version must be a non-empty string`)
    }
    this.#version = version
    this.#built = undefined
    return this
  }

  /** Input guard checked before a run is created; `false` rejects `execute` with `Invalid input`. */
  validate(guard: (input: unknown) => boolean): this {
    if (typeof guard !== 'function')
      throw new FluxDefinitionError(`Workflow "${this.#name}": validate() needs a function`)
    this.#guard = guard
    this.#built = undefined
    return this
  }

  /** Standard Schema (zod, valibot, arktype…) checked before a run is created; issues are in the error. */
  schema<T>(schema: StandardSchemaV1<T>): WorkflowBuilder<T, TData> {
    if (!schema || typeof schema !== 'object' || !('~standard' in schema)) {
      throw new FluxDefinitionError(`Workflow "${this.#name}": schema() needs a Standard Schema object`)
    }
    this.#schema = schema
    this.#built = undefined
    return this as unknown as WorkflowBuilder<T, TData>
  }

  /** Adds a step: at-least-once, re-run after a crash from the last checkpoint. */
  step(
    name: string,
    handler: (ctx: WorkflowContext<TInput, TData>) => StepHandlerResult,
    options: StepOptions<TInput, TData> = {},
  ): this {
    this.#add(name, handler, options, false)
    return this
  }

  /** Adds a commit: a side effect recorded before it runs and never run again once completed. */
  commit(
    name: string,
    handler: (ctx: WorkflowContext<TInput, TData>) => StepHandlerResult,
    options: CommitOptions<TInput, TData> = {},
  ): this {
    this.#add(name, handler, options, true)
    return this
  }

  #add(
    name: string,
    handler: (ctx: WorkflowContext<TInput, TData>) => StepHandlerResult,
    options: StepOptions<TInput, TData>,
    commit: boolean,
  ): void {
    const where = `Workflow "${this.#name}"`
    if (typeof name !== 'string' || name.trim() === '') {
      throw new FluxDefinitionError(`${where}: step name must be a non-empty string`)
    }
    if (this.#steps.some((s) => s.name === name)) {
      throw new FluxDefinitionError(`${where}: duplicate step name "${name}"`)
    }
    if (typeof handler !== 'function') {
      throw new FluxDefinitionError(`${where}: step "${name}" needs a handler function`)
    }
    validateStepOptions(where, name, options, commit)
    this.#steps.push(Object.freeze({ ...options, name, handler, commit }) as StepDefinition<TInput, TData>)
    this.#built = undefined
  }

  /** The immutable definition. Throws if there are no steps. */
  build(): WorkflowDefinition<TInput, TData> {
    if (this.#steps.length === 0) {
      throw new FluxDefinitionError(`Workflow "${this.#name}" has no steps`)
    }
    this.#built ??= Object.freeze({
      name: this.#name,
      version: this.#version,
      steps: Object.freeze([...this.#steps]),
      validateInput: this.#guard,
      schema: this.#schema,
    })
    return this.#built
  }

  /** Serializable descriptor, for viewers and docs. */
  describe(): WorkflowDescriptor {
    return describeDefinition({ name: this.#name, version: this.#version, steps: this.#steps })
  }
}

/** Starts a workflow definition. */
export function createWorkflow(name: string): WorkflowBuilder<unknown, Record<string, any>> {
  return new WorkflowBuilder(name)
}

/** Descriptor of a definition (builder or plain object). */
export function describeDefinition(
  def: Pick<WorkflowDefinition<any, any>, 'name' | 'version' | 'steps'>,
): WorkflowDescriptor {
  const steps: StepDescriptor[] = def.steps.map((s) => {
    const d: StepDescriptor = {
      name: s.name,
      commit: Boolean(s.commit),
      hasCondition: typeof s.when === 'function',
      hasCompensation: typeof s.compensate === 'function',
    }
    if (s.retries !== undefined) d.retries = s.retries
    if (s.timeout !== undefined) d.timeout = s.timeout
    return d
  })
  return def.version === undefined
    ? { name: def.name, steps }
    : { name: def.name, version: def.version, steps }
}
