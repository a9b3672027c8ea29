import type { StoredStep } from '../codec/checkpoint.js'
import { publicStep } from '../codec/checkpoint.js'
import type { FluxLogger, StepExecution, WorkflowContext, WorkflowStatus } from '../types.js'
import type { AttemptData, DataTracker } from './data-tracker.js'

/** What a context needs from its run. */
export interface ContextSource {
  readonly id: string
  readonly name: string
  readonly input: unknown
  readonly status: WorkflowStatus
  readonly cursor: number
  readonly revision: number
  readonly history: readonly StoredStep[]
  readonly signals: Readonly<Record<string, unknown>>
  readonly tracker: DataTracker
  readonly logger: FluxLogger
}

/**
 * The `ctx` of one attempt. Its `AbortController` is created only if the handler looks at
 * `ctx.signal` (most never do), and `history` is copied only when read.
 */
export class StepContext implements WorkflowContext<any, any> {
  readonly id: string
  readonly name: string
  readonly input: unknown
  readonly status: WorkflowStatus
  readonly currentStep: number
  readonly version: number
  readonly attempt: number
  readonly idempotencyKey: string
  readonly logger: FluxLogger
  readonly signals: Readonly<Record<string, unknown>>
  readonly #source: ContextSource
  readonly #data: AttemptData
  #controller: AbortController | undefined
  #abortReason: unknown
  #aborted = false

  constructor(source: ContextSource, attempt: number, idempotencyKey: string, data?: AttemptData) {
    this.#source = source
    this.#data = data ?? source.tracker.handle()
    this.id = source.id
    this.name = source.name
    this.input = source.input
    this.status = source.status
    this.currentStep = source.cursor
    this.version = source.revision
    this.attempt = attempt
    this.idempotencyKey = idempotencyKey
    this.logger = source.logger
    this.signals = source.signals
  }

  get data(): any {
    return this.#data.view
  }

  set data(value: any) {
    this.#data.replace(value)
  }

  get history(): StepExecution[] {
    return this.#source.history.map(publicStep)
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  /** Aborts `ctx.signal` (timeout, cancel, lease lost). */
  abort(reason: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }
}

/** The idempotency key of a step: stable across attempts and processes; a `recommit` makes a new one. */
export function idempotencyKey(runId: string, stepName: string, generation = 0): string {
  return generation > 0 ? `${runId}:${stepName}:${generation}` : `${runId}:${stepName}`
}
