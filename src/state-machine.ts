import { InvalidStateTransitionError } from './errors.js'
import { isTerminalStatus, type WorkflowStatus } from './types.js'

/**
 * The run-status transition table. The engine enforces the same table on every run; this class
 * exposes it as the origin does (an `EventTarget` dispatching `transition` with `{from, to}`).
 */
export const TRANSITIONS: Readonly<Record<WorkflowStatus, readonly WorkflowStatus[]>> = Object.freeze({
  pending: ['running', 'failed', 'cancelled'],
  running: ['paused', 'suspended', 'completed', 'failed', 'rolling_back', 'cancelled', 'pending'],
  paused: ['running', 'failed', 'cancelled'],
  suspended: ['running', 'failed', 'cancelled'],
  rolling_back: ['rolled_back', 'compensation_failed', 'failed', 'cancelled'],
  rolled_back: ['pending', 'running'],
  compensation_failed: ['pending', 'running', 'rolling_back'],
  completed: ['pending', 'running'],
  failed: ['pending', 'running'],
  cancelled: ['pending', 'running'],
})

/** Origin-compatible state machine over {@link TRANSITIONS}. */
export class StateMachine extends EventTarget {
  #status: WorkflowStatus = 'pending'

  get status(): WorkflowStatus {
    return this.#status
  }

  canTransition(to: WorkflowStatus): boolean {
    return TRANSITIONS[this.#status].includes(to)
  }

  /** @throws {InvalidStateTransitionError} `Invalid state transition: A → B` */
  transition(to: WorkflowStatus): void {
    if (!this.canTransition(to)) throw new InvalidStateTransitionError(this.#status, to)
    const from = this.#status
    this.#status = to
    this.dispatchEvent(new CustomEvent('transition', { detail: { from, to } }))
  }

  /** Sets the status without checking (restoring a stored run). */
  forceStatus(status: WorkflowStatus): void {
    this.#status = status
  }

  isTerminal(): boolean {
    return isTerminalStatus(this.#status)
  }

  canExecute(): boolean {
    return this.#status === 'pending' || this.#status === 'paused' || this.#status === 'suspended'
  }
}
