/**
 * Public types shared by the builder, the engine and the storage adapters.
 * Shapes follow `@gravito/flux` where it has them, with fluxflow's additions marked.
 */

/** Where a run is in its life. See docs/ARCHITECTURE.md for the transition table. */
export type WorkflowStatus =
  | 'pending'
  | 'running'
  | 'paused'
  | 'suspended'
  | 'completed'
  | 'failed'
  | 'rolling_back'
  | 'rolled_back'
  | 'compensation_failed'
  | 'cancelled'

/** Where a step is in its life. */
export type StepStatus =
  | 'pending'
  | 'running'
  | 'completed'
  | 'failed'
  | 'skipped'
  | 'suspended'
  | 'compensating'
  | 'compensated'

/** Every run status. */
export const WORKFLOW_STATUSES: readonly WorkflowStatus[] = Object.freeze([
  'pending',
  'running',
  'paused',
  'suspended',
  'completed',
  'failed',
  'rolling_back',
  'rolled_back',
  'compensation_failed',
  'cancelled',
])

/** True when `value` is a run status (a stored or traced value read back). */
export function isWorkflowStatus(value: unknown): value is WorkflowStatus {
  return typeof value === 'string' && (WORKFLOW_STATUSES as readonly string[]).includes(value)
}

/** The statuses a run never leaves on its own. */
export const TERMINAL_STATUSES: readonly WorkflowStatus[] = Object.freeze([
  'completed',
  'failed',
  'rolled_back',
  'compensation_failed',
  'cancelled',
])

/** True when a run in this status will not move again unless an operator resumes it. */
export function isTerminalStatus(status: WorkflowStatus): boolean {
  return TERMINAL_STATUSES.includes(status)
}

/** One entry of a run's history: one per step from the start, `pending` until reached. */
export interface StepExecution {
  name: string
  status: StepStatus
  startedAt?: Date
  completedAt?: Date
  suspendedAt?: Date
  compensatedAt?: Date
  /** Signal the step waits for (set while suspended on `Flux.wait`). */
  waitingFor?: string
  duration?: number
  /** For a wait step: the signal payload that woke it. */
  output?: unknown
  /** Message of the last error of this step (or of its compensation). */
  error?: string
  /** Retries made: attempts − 1. */
  retries: number
  /** fluxflow: attempts made, 1-based count. */
  attempts: number
  /** fluxflow: when a sleeping or backing-off step is due. */
  wakeAt?: Date
}

/** Returned by a handler to suspend the run until `signal(name)` arrives (or `timeout` ms pass). */
export interface FluxWaitResult {
  __kind: 'flux_wait'
  signal: string
  timeout?: number
}

/** Returned by a handler to park the run until a time (durable; survives restarts). */
export interface FluxSleepResult {
  __kind: 'flux_sleep'
  /** Milliseconds from when the engine records the sleep. */
  ms?: number
  /** Absolute epoch milliseconds. */
  until?: number
}

/** What a step handler may return. */
export type StepHandlerResult =
  | undefined
  | FluxWaitResult
  | FluxSleepResult
  | Promise<void | undefined | FluxWaitResult | FluxSleepResult>
  | void

/** Logger used by the engine; `FluxConsoleLogger` and `FluxSilentLogger` implement it. */
export interface FluxLogger {
  debug(message: string, ...args: unknown[]): void
  info(message: string, ...args: unknown[]): void
  warn(message: string, ...args: unknown[]): void
  error(message: string, ...args: unknown[]): void
}

/** The context every step handler, `when`, and `compensate` receives. */
export interface WorkflowContext<TInput = unknown, TData = Record<string, any>> {
  readonly id: string
  readonly name: string
  /** A deep copy of the run's input; never the caller's object. */
  readonly input: TInput
  /** Mutable run state; checkpointed after each step. */
  data: TData
  readonly status: WorkflowStatus
  readonly currentStep: number
  readonly history: StepExecution[]
  /** Storage revision of the run when this attempt started. */
  readonly version: number
  /** fluxflow: 1-based attempt of the current step. */
  readonly attempt: number
  /** fluxflow: aborted when the attempt times out or the run is cancelled. */
  readonly signal: AbortSignal
  /** fluxflow: stable per run and step, the same across attempts and processes. */
  readonly idempotencyKey: string
  readonly logger: FluxLogger
  /** fluxflow: latest payload received for each signal name. */
  readonly signals: Readonly<Record<string, unknown>>
}

/** Backoff between retries: `min(max, initial · factor^(n−1))`, full jitter by default. */
export interface BackoffOptions {
  initial?: number
  factor?: number
  max?: number
  jitter?: boolean
}

/** A backoff given as a function of the 1-based retry number and the error. */
export type BackoffFunction = (attempt: number, error: Error) => number

/** Options of `.step()` and `.commit()`. */
export interface StepOptions<TInput = unknown, TData = Record<string, any>> {
  /** Retries after the first attempt. */
  retries?: number
  /** Milliseconds per attempt. */
  timeout?: number
  when?: (ctx: WorkflowContext<TInput, TData>) => boolean
  compensate?: (ctx: WorkflowContext<TInput, TData>) => void | Promise<void>
  backoff?: BackoffOptions | BackoffFunction
  /** Return false to make an error final at once. */
  retryIf?: (error: Error) => boolean
}

/** One step of a definition. */
export interface StepDefinition<TInput = unknown, TData = Record<string, any>>
  extends StepOptions<TInput, TData> {
  name: string
  handler: (ctx: WorkflowContext<TInput, TData>) => StepHandlerResult
  commit: boolean
}

/** A Standard Schema (v1) validator, as produced by zod, valibot, arktype… */
export interface StandardSchemaV1<T = unknown> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (
      value: unknown,
    ) =>
      | { readonly value: T; readonly issues?: undefined }
      | { readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] }[] }
      | Promise<
          | { readonly value: T; readonly issues?: undefined }
          | { readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] }[] }
        >
  }
}

/** The immutable blueprint `.build()` returns; the engine also accepts a plain object of this shape. */
export interface WorkflowDefinition<TInput = unknown, TData = Record<string, any>> {
  readonly name: string
  readonly version?: string | undefined
  readonly steps: readonly StepDefinition<TInput, TData>[]
  readonly validateInput?: ((input: unknown) => boolean) | undefined
  readonly schema?: StandardSchemaV1<TInput> | undefined
}

/** Serializable description of one step. */
export interface StepDescriptor {
  name: string
  commit: boolean
  retries?: number
  timeout?: number
  hasCondition: boolean
  hasCompensation: boolean
}

/** Serializable description of a definition. */
export interface WorkflowDescriptor {
  name: string
  version?: string
  steps: StepDescriptor[]
}

/** What a hook receives about a finished step. */
export interface StepResult<T = unknown> {
  success: boolean
  data?: T
  error?: Error
  duration: number
  suspended?: boolean
  waitingFor?: string
}

/** Lifecycle hooks; a throwing hook is logged and never changes an outcome. */
export interface FluxHooks {
  stepStart?: (step: string, ctx: WorkflowContext) => void
  stepComplete?: (step: string, ctx: WorkflowContext, result: StepResult) => void
  stepError?: (step: string, ctx: WorkflowContext, error: Error) => void
  workflowComplete?: (ctx: WorkflowContext) => void
  workflowError?: (ctx: WorkflowContext, error: Error) => void
}

/** The result of `execute`, `resume`, `retryStep` and `signal`. */
export interface FluxResult<TData = Record<string, any>> {
  id: string
  status: WorkflowStatus
  data: TData
  history: StepExecution[]
  duration: number
  error?: Error
  /** Storage revision of the run. */
  version: number
}

/** The origin's persisted view of a run, returned by `engine.get()` and `engine.list()`. */
export interface WorkflowState<TInput = unknown, TData = Record<string, any>> {
  id: string
  name: string
  status: WorkflowStatus
  input: TInput
  data: TData
  currentStep: number
  history: StepExecution[]
  createdAt: Date
  updatedAt: Date
  completedAt?: Date
  error?: string
  version: number
  /** fluxflow additions */
  definitionVersion?: string
  waitingFor?: string
  wakeAt?: Date
  /** Steps still to compensate after `compensation_failed`, in the order they would run. */
  pendingCompensations?: string[]
  queue?: string
  /** What a stored run is matched on (`name@version` or `name#hash`); kept so a saved state can be continued. */
  definitionKey?: string
}

/** Filter of `list()`; `limit` and `offset` combine freely. Newest first. */
export interface WorkflowFilter {
  name?: string
  status?: WorkflowStatus | WorkflowStatus[]
  limit?: number
  offset?: number
}

/** The origin's storage interface; an object with just these still works for in-process runs. */
export interface WorkflowStorage {
  save(state: WorkflowState): Promise<void>
  load(id: string): Promise<WorkflowState | null>
  list(filter?: WorkflowFilter): Promise<WorkflowState[]>
  delete(id: string): Promise<void>
  init?(): Promise<void>
  close?(): Promise<void>
}
