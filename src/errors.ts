/**
 * The whole error family of fluxflow.
 *
 * Every class has a stable `name`, a string `code` and keeps `cause`. `instanceof` works across
 * duplicate copies of the package (two versions in one `node_modules`): each class brands its
 * instances with a `Symbol.for` key and checks the brand in `Symbol.hasInstance`.
 */

const BRAND = Symbol.for('fluxflow.error')

/** Codes carried by {@link FluxError} and its subclasses. */
export type FluxErrorCode =
  | 'FLUX_ERROR'
  | 'DEFINITION'
  | 'INVALID_INPUT'
  | 'NON_RETRYABLE'
  | 'RETRYABLE'
  | 'STEP_TIMEOUT'
  | 'SIGNAL_TIMEOUT'
  | 'CANCELLED'
  | 'DEFINITION_CHANGED'
  | 'WORKFLOW_NOT_FOUND'
  | 'WORKFLOW_NOT_SUSPENDED'
  | 'SIGNAL_MISMATCH'
  | 'SIGNAL_CONFLICT'
  | 'INVALID_STEP'
  | 'INVALID_STATE_TRANSITION'
  | 'SERIALIZATION'
  | 'LEASE_LOST'
  | 'STORAGE'
  | 'ENGINE_CLOSED'

function branded(self: object, ctor: Function): boolean {
  const brands = (self as { [BRAND]?: string[] })[BRAND]
  return Array.isArray(brands) && brands.includes(ctor.name)
}

/** Base class of every error fluxflow throws on purpose. */
export class FluxError extends Error {
  readonly code: FluxErrorCode
  declare readonly [BRAND]: string[]

  constructor(message: string, code: FluxErrorCode = 'FLUX_ERROR', options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
    const chain: string[] = []
    for (
      let p: Function | null = new.target;
      p && p !== Error;
      p = Object.getPrototypeOf(p) as Function | null
    )
      chain.push(p.name)
    Object.defineProperty(this, BRAND, { value: chain, enumerable: false })
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass being tested against.
    return typeof value === 'object' && value !== null && branded(value, this)
  }
}

/** A definition mistake found by the builder (duplicate step, bad option…). */
export class FluxDefinitionError extends FluxError {
  constructor(message: string) {
    super(message, 'DEFINITION')
  }
}

/** The input failed `.validate()` / `.schema()`; no run was created. */
export class InvalidInputError extends FluxError {
  readonly issues: readonly unknown[]
  constructor(workflowName: string, issues: readonly unknown[] = []) {
    const detail = issues.length ? `: ${issues.map(formatIssue).join('; ')}` : ''
    super(`Invalid input for workflow "${workflowName}"${detail}`, 'INVALID_INPUT')
    this.issues = issues
  }
}

function formatIssue(issue: unknown): string {
  if (typeof issue === 'string') return issue
  if (issue && typeof issue === 'object' && 'message' in issue) {
    const { message, path } = issue as { message: unknown; path?: unknown }
    const where = Array.isArray(path) && path.length ? `${path.map(pathKey).join('.')}: ` : ''
    return `${where}${String(message)}`
  }
  return String(issue)
}

function pathKey(segment: unknown): string {
  if (segment && typeof segment === 'object' && 'key' in segment)
    return String((segment as { key: unknown }).key)
  return String(segment)
}

/** Thrown by a step to fail it at once, without further retries. `Flux.fail()` throws one. */
export class NonRetryableError extends FluxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'NON_RETRYABLE', options)
  }
}

/** Thrown by a step to ask for a retry after a specific delay (ms), overriding the backoff. */
export class RetryableError extends FluxError {
  readonly retryAfter: number | undefined
  constructor(message: string, options?: { retryAfter?: number; cause?: unknown }) {
    super(message, 'RETRYABLE', options)
    this.retryAfter = options?.retryAfter
  }
}

/** An attempt ran past its `timeout`; its `ctx.signal` was aborted. Message as the origin's. */
export class StepTimeoutError extends FluxError {
  readonly timeout: number
  constructor(timeout = 0) {
    super('Step timeout', 'STEP_TIMEOUT')
    this.timeout = timeout
  }
}

/** A `Flux.wait(name, {timeout})` reached its deadline without the signal. Not retried. */
export class SignalTimeoutError extends FluxError {
  constructor(signalName: string) {
    super(`Timed out waiting for signal "${signalName}"`, 'SIGNAL_TIMEOUT')
  }
}

/** The run was cancelled (`engine.cancel`); aborts the running attempt's `ctx.signal`. */
export class WorkflowCancelledError extends FluxError {
  constructor(reason?: string) {
    super(reason ? `Workflow cancelled: ${reason}` : 'Workflow cancelled', 'CANCELLED')
  }
}

/** The stored run was started with a different definition (steps renamed, added, removed, re-kinded). */
export class FluxDefinitionChangedError extends FluxError {
  readonly workflowName: string
  readonly changedSteps: readonly string[]
  constructor(workflowName: string, changedSteps: readonly string[], detail?: string) {
    const list = changedSteps.length ? changedSteps.join(', ') : 'unknown'
    super(
      `Workflow "${workflowName}" definition changed since the run started (steps: ${list})${detail ? `; ${detail}` : ''}. ` +
        'Register the previous definition, or give both the same .version() if they are compatible.',
      'DEFINITION_CHANGED',
    )
    this.workflowName = workflowName
    this.changedSteps = changedSteps
  }
}

/** `signal()` for an id that does not exist. Message as the origin's. */
export class WorkflowNotFoundError extends FluxError {
  constructor(readonly workflowId?: string) {
    super('Workflow not found', 'WORKFLOW_NOT_FOUND')
  }
}

/** `signal()` for a run that has ended. Message as the origin's. */
export class WorkflowNotSuspendedError extends FluxError {
  constructor(readonly status: string) {
    super(`Workflow is not suspended (status: ${status})`, 'WORKFLOW_NOT_SUSPENDED')
  }
}

/** `signal()` with a name other than the one the run waits for. Message as the origin's. */
export class SignalMismatchError extends FluxError {
  constructor(
    readonly expected: string,
    readonly received: string,
  ) {
    super(`Workflow waiting for signal "${expected}", received "${received}"`, 'SIGNAL_MISMATCH')
  }
}

/** A signal of that name is already stored for the run and not yet consumed (the concurrent loser). */
export class SignalConflictError extends FluxError {
  constructor(workflowId: string, name: string) {
    super(
      `Signal "${name}" was already delivered to workflow ${workflowId} and has not been consumed yet`,
      'SIGNAL_CONFLICT',
    )
  }
}

/** `resume`/`retryStep` named a step that does not exist. Messages as the origin's. */
export class InvalidStepError extends FluxError {
  constructor(message: string) {
    super(message, 'INVALID_STEP')
  }
}

/** `StateMachine.transition` refused a move. Message as the origin's. */
export class InvalidStateTransitionError extends FluxError {
  constructor(from: string, to: string) {
    super(`Invalid state transition: ${from} → ${to}`, 'INVALID_STATE_TRANSITION')
  }
}

/** A value could not be stored; `path` names where it is (`data.user.save`). */
export class SerializationError extends FluxError {
  readonly path: string
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`Cannot store ${path}: ${reason}`, 'SERIALIZATION', options)
    this.path = path
  }
}

/** A fenced write found that this engine no longer owns the run (another took it over, or it was cancelled). */
export class LeaseLostError extends FluxError {
  constructor(readonly workflowId: string) {
    super(
      `Lease on workflow ${workflowId} was lost; another owner holds it or it was cancelled`,
      'LEASE_LOST',
    )
  }
}

/** The storage failed or returned something it should not have (a corrupt row…). */
export class StorageError extends FluxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'STORAGE', options)
  }
}

/** A call on an engine after `close()`. */
export class EngineClosedError extends FluxError {
  constructor() {
    super('FluxEngine is closed', 'ENGINE_CLOSED')
  }
}

/** Normalises anything thrown into an `Error`. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value
  if (typeof value === 'string') return new Error(value)
  try {
    return new Error(JSON.stringify(value))
  } catch {
    return new Error(String(value))
  }
}
