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
 * The `ctx` of one attempt. It is built for every attempt of every step, so it is kept small:
 * run fields are getters on the run, the idempotency key is built on first read, the
 * `AbortController` exists only if the handler looks at `ctx.signal` (most never do), and
 * `history` is copied only when read.
 */
export class StepContext implements WorkflowContext<any, any> {
  readonly status: WorkflowStatus
  readonly currentStep: number
  readonly version: number
  readonly attempt: number
  readonly #source: ContextSource
  readonly #data: AttemptData
  readonly #keyStep: string
  readonly #keyGeneration: number
  readonly #keySuffix: string
  #key: string | undefined
  #controller: AbortController | undefined
  #abortReason: unknown
  #aborted = false

  /**
   * `keyStep`/`keyGeneration`/`keySuffix` make the idempotency key (see {@link idempotencyKey});
   * an empty `keyStep` gives an empty key (contexts of `when` and hooks).
   */
  constructor(
    source: ContextSource,
    attempt: number,
    keyStep = '',
    keyGeneration = 0,
    data?: AttemptData,
    keySuffix = '',
  ) {
    this.#source = source
    this.#data = data ?? source.tracker.handle()
    this.status = source.status
    this.currentStep = source.cursor
    this.version = source.revision
    this.attempt = attempt
    this.#keyStep = keyStep
    this.#keyGeneration = keyGeneration
    this.#keySuffix = keySuffix
  }

  get id(): string {
    return this.#source.id
  }

  get name(): string {
    return this.#source.name
  }

  get input(): any {
    return this.#source.input
  }

  get logger(): FluxLogger {
    return this.#source.logger
  }

  get signals(): Readonly<Record<string, unknown>> {
    return this.#source.signals
  }

  get idempotencyKey(): string {
    if (this.#key === undefined) {
      this.#key =
        this.#keyStep === ''
          ? ''
          : idempotencyKey(this.#source.id, this.#keyStep, this.#keyGeneration) + this.#keySuffix
    }
    return this.#key
  }

  get data(): any {
    return this.#data.view
  }

  set data(value: any) {
    this.#data.replace(value)
  }

  get history(): StepExecution[] {
    const history = this.#source.history.map(publicStep)
    // A plain step's start is not recorded: show the current step as this attempt sees it.
    const current = history[this.currentStep]
    if (this.#keyStep !== '' && current && current.status === 'pending') {
      current.status = 'running'
      current.attempts = this.attempt
      current.retries = this.attempt - 1
    }
    return history
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
