/**
 * Drives one claimed run forward until it comes to rest, parks on a timer, or loses its lease.
 *
 * Crash semantics (docs/ARCHITECTURE.md has the full story):
 * - a `step` is at-least-once: its checkpoint is written after it completes; a crash before that
 *   re-runs it from the data of the last checkpoint;
 * - a `commit` has its start recorded (durably) before its handler runs, and a completed commit
 *   is never run again; an interrupted one is re-run with the same `ctx.idempotencyKey`;
 * - a `when` outcome, an attempt count and a retry's due time are recorded, never recomputed.
 */
import { sleepOn } from '../clock.js'
import { pendingStep, type StoredStep, storeError } from '../codec/checkpoint.js'
import { LeaseLostError, toError, WorkflowCancelledError } from '../errors.js'
import type { FluxTraceEvent, FluxTraceEventType } from '../trace/events.js'
import type { FluxSleepResult, StepDefinition, StepResult } from '../types.js'
import { isSleepResult, isWaitResult } from '../workflow/flux.js'
import { type AttemptOutcome, runAttempt } from './attempt.js'
import { runCompensation, startCompensation } from './compensation.js'
import { StepContext } from './context.js'
import type { Abortable } from './control.js'
import { backoffDelay, isFinalError } from './retry.js'
import type { RunState } from './run-state.js'
import { continueSuspended, sleepStep, waitStep } from './suspension.js'

/** How a drive ended. */
export type DriveEnd =
  /** Terminal, or suspended on a signal wait; the lease is released. */
  | { kind: 'rest' }
  /** Parked until `wakeAt` (sleep); the lease is released. */
  | { kind: 'sleep'; wakeAt: number }
  /** Another owner has the run now (lease expired and taken, or cancelled elsewhere). */
  | { kind: 'lost'; error: Error }
  /** The engine is stopping; the lease was handed back. */
  | { kind: 'released' }

/** How one step ended. */
export type StepEnd = 'next' | DriveEnd | { kind: 'failed'; index: number; error: Error }

/** Aborts a drive because its engine is stopping; the run is released, not failed. */
export class EngineStopping extends Error {
  constructor() {
    super('engine stopping')
    this.name = 'EngineStopping'
  }
}

/** Why this drive started: shapes the first trace event. */
export type DriveMode = 'start' | 'resume' | 'recover'

export class Runner {
  readonly state: RunState
  readonly signal: Abortable
  readonly #mode: DriveMode
  /** The error that ended the run (kept as the live object for `FluxResult.error`). */
  finalError: Error | undefined

  constructor(state: RunState, signal: Abortable, mode: DriveMode) {
    this.state = state
    this.signal = signal
    this.#mode = mode
  }

  get #steps(): readonly StepDefinition<any, any>[] {
    return this.state.resolved.def.steps
  }

  async drive(): Promise<DriveEnd> {
    const state = this.state
    try {
      if (state.core.emitter.tracing) {
        await this.trace(this.#mode === 'start' ? 'workflow:start' : `workflow:${this.#mode}`, {
          status: 'running',
          ...(this.#mode === 'start' ? { input: state.input } : {}),
        })
      }
      if (state.status === 'rolling_back') return await runCompensation(this)
      if (state.status !== 'running') state.status = 'running'
      const steps = this.#steps
      while (state.cursor < steps.length) {
        // A step starts only once everything before it is applied: a step that completed is
        // never re-run after a crash of this process (see the `sync` flag for power loss).
        await state.settled
        if (state.failure !== undefined) throw state.failure
        const index = state.cursor
        const record = state.history[index]
        // The common case goes straight to the attempts, without the dispatch's extra await.
        const end =
          record !== undefined && record.status === 'pending' && steps[index]!.when === undefined
            ? await this.#attempts(index)
            : await this.#step(index)
        if (end === 'next') {
          state.cursor++
          continue
        }
        if (end.kind === 'failed') return await startCompensation(this, end.index, end.error)
        return end
      }
      return await this.#complete()
    } catch (error) {
      return await this.#interrupted(error)
    }
  }

  async #interrupted(error: unknown): Promise<DriveEnd> {
    const reason = this.signal.aborted ? this.signal.reason : error
    const core = this.state.core
    if (reason instanceof WorkflowCancelledError) {
      this.state.status = 'cancelled'
      this.finalError = reason
      return { kind: 'rest' }
    }
    if (reason instanceof LeaseLostError) return { kind: 'lost', error: reason }
    if (reason instanceof EngineStopping) {
      await this.state.barrier().catch(() => undefined)
      await core.store
        .release({ id: this.state.id, token: core.token, now: core.clock.now() })
        .catch(() => undefined)
      return { kind: 'released' }
    }
    core.logger.error(
      `workflow ${this.state.id} stopped by an engine or storage error: ${toError(error).message}`,
    )
    await core.store
      .release({ id: this.state.id, token: core.token, now: core.clock.now() })
      .catch(() => undefined)
    throw error
  }

  async #step(index: number): Promise<StepEnd> {
    const state = this.state
    const def = this.#steps[index]!
    const record = state.history[index] ?? pendingStep(def.name)
    switch (record.status) {
      case 'completed':
      case 'skipped':
        return 'next'
      case 'suspended':
        return continueSuspended(this, index, record)
      case 'pending':
        if (def.when) {
          let pass: boolean
          try {
            pass = Boolean(def.when(new StepContext(state, 0)))
          } catch (error) {
            return this.failFinally(index, { ...record, status: 'running' }, toError(error))
          }
          if (!pass) {
            state.setStep(index, { ...record, status: 'skipped', completedAt: this.now() })
            state.write({ body: state.encodeBody(false), sync: false })
            await this.trace('step:skipped', this.stepFields(index, 'skipped'))
            return 'next'
          }
          // Record that `when` passed, so recovery does not ask again.
          state.setStep(index, { ...record, status: 'running' })
          if (!def.commit) state.write({ body: state.encodeBody(false), sync: false })
        }
        return this.#attempts(index)
      default:
        return this.#attempts(index)
    }
  }

  async #attempts(index: number): Promise<StepEnd> {
    const state = this.state
    const core = state.core
    const def = this.#steps[index]!
    const retries = def.retries ?? core.defaultRetries
    const timeout = def.timeout ?? core.defaultTimeout
    for (;;) {
      let record = state.history[index]!
      if (record.wakeAt !== undefined) {
        const wait = record.wakeAt - core.clock.now()
        if (wait > 0) await sleepOn(core.clock, wait, this.signal)
      }
      const attempt = record.attempts + 1
      const startedAt = record.startedAt ?? this.now()
      if (def.commit) {
        // The start of a side effect is durable before the side effect runs.
        record = { ...record, status: 'running', attempts: attempt, retries: attempt - 1, startedAt }
        if (record.wakeAt !== undefined) record.wakeAt = undefined
        state.setStep(index, record)
        state.write({ body: state.encodeBody(false) })
        await state.barrier()
      }
      // A plain step's start is not written (a crash re-runs it anyway); its record is built
      // once, when it ends, and `ctx.history` shows it running meanwhile.
      const data = state.tracker.begin()
      const ctx = new StepContext(state, attempt, def.name, record.generation ?? 0, data)
      if (core.emitter.hasHook('stepStart')) core.emitter.hook('stepStart', def.name, ctx)
      if (core.emitter.tracing)
        await this.trace('step:start', {
          ...this.stepFields(index, 'running'),
          attempt,
          retries: attempt - 1,
        })
      const started = core.clock.now()
      const pending = runAttempt(
        def.handler as (c: StepContext) => unknown,
        ctx,
        timeout,
        core.clock,
        this.signal,
      )
      const outcome: AttemptOutcome = pending instanceof Promise ? await pending : pending
      if (outcome.ok && !isWaitResult(outcome.value) && !isSleepResult(outcome.value)) {
        const now = core.clock.now()
        const duration = now - started
        // One object, built whole (a spread plus added fields cost more here than the rest).
        const done: StoredStep = {
          name: record.name,
          status: 'completed',
          retries: attempt - 1,
          attempts: attempt,
          startedAt,
          completedAt: now,
          duration,
        }
        if (record.generation !== undefined) done.generation = record.generation
        state.setStep(index, done)
        let body: string | undefined
        try {
          body = state.encodeBody(true)
        } catch (error) {
          const running: StoredStep = { ...done, status: 'running' }
          state.refold()
          return this.failFinally(index, running, toError(error))
        }
        state.tracker.commit()
        // A plain step's completion need not be fsynced (at-least-once); a commit's must.
        state.write({ body, sync: def.commit })
        if (core.emitter.hasHook('stepComplete')) {
          const result: StepResult = { success: true, duration }
          core.emitter.hook('stepComplete', def.name, ctx, result)
        }
        if (core.emitter.tracing)
          await this.trace('step:complete', { ...this.stepFields(index, 'completed'), attempt, duration })
        return 'next'
      }
      if (!def.commit) {
        record = { ...record, status: 'running', attempts: attempt, retries: attempt - 1, startedAt }
        if (record.wakeAt !== undefined) record.wakeAt = undefined
      }
      if (outcome.ok) {
        state.setStep(index, record)
        if (isWaitResult(outcome.value)) return waitStep(this, index, outcome.value, started)
        return sleepStep(this, index, outcome.value as FluxSleepResult, started)
      }
      if (this.signal.aborted) throw this.signal.reason
      const error = outcome.error
      state.refold()
      if (outcome.timedOut)
        await this.trace('step:timeout', {
          ...this.stepFields(index, 'running'),
          attempt,
          error: error.message,
        })
      if (isFinalError(error, def.retryIf) || attempt > retries) return this.failFinally(index, record, error)
      const delay = backoffDelay(def.backoff, core.defaultBackoff, attempt, error, core.random)
      state.setStep(index, { ...record, error: error.message, wakeAt: core.clock.now() + delay })
      state.write({ body: state.encodeBody(false), sync: false })
      await state.barrier()
      core.logger.warn(
        `step "${def.name}" of ${state.id} failed (attempt ${attempt}/${retries + 1}), retrying in ${delay} ms: ${error.message}`,
      )
      await this.trace('step:retry', {
        ...this.stepFields(index, 'running'),
        attempt,
        retries: attempt,
        maxRetries: retries,
        error: error.message,
        meta: { delay },
      })
    }
  }

  async failFinally(index: number, record: StoredStep, error: Error): Promise<StepEnd> {
    const state = this.state
    const def = this.#steps[index]!
    state.setStep(index, {
      ...record,
      status: 'failed',
      error: error.message,
      completedAt: this.now(),
      wakeAt: undefined,
    })
    state.core.emitter.hook('stepError', def.name, new StepContext(state, record.attempts), error)
    await this.trace('step:error', {
      ...this.stepFields(index, 'failed'),
      attempt: record.attempts,
      error: error.message,
    })
    return { kind: 'failed', index, error }
  }

  async #complete(): Promise<DriveEnd> {
    const state = this.state
    const core = state.core
    state.status = 'completed'
    state.waitingFor = null
    state.wakeAt = null
    state.write({ release: true })
    await state.barrier()
    core.emitter.hook('workflowComplete', new StepContext(state, 0))
    if (core.emitter.tracing)
      await this.trace('workflow:complete', { status: 'completed', duration: state.elapsed() })
    core.logger.debug(`workflow ${state.name} ${state.id} completed`)
    return { kind: 'rest' }
  }

  /** Reports a run that ended failed / rolled_back / compensation_failed. */
  async reportFailure(error: Error): Promise<void> {
    const state = this.state
    this.finalError = error
    state.core.emitter.hook('workflowError', new StepContext(state, 0), error)
    await this.trace('workflow:error', {
      status: state.status,
      error: error.message,
      duration: state.elapsed(),
    })
    state.core.logger.info(`workflow ${state.name} ${state.id} ended ${state.status}: ${error.message}`)
  }

  /** Records the run's error. */
  setError(error: Error): void {
    this.state.error = storeError(error)
  }

  now(): number {
    return this.state.core.clock.now()
  }

  stepFields(index: number, status: NonNullable<FluxTraceEvent['status']>): Partial<FluxTraceEvent> {
    const def = this.#steps[index]!
    return { stepName: def.name, stepIndex: index, commit: def.commit, status }
  }

  /** Emits a trace event if anything listens; waits for the sink. */
  async trace(type: FluxTraceEventType, fields: Partial<FluxTraceEvent> = {}): Promise<void> {
    const core = this.state.core
    if (!core.emitter.tracing) return
    const event: FluxTraceEvent = {
      type,
      timestamp: core.clock.now(),
      workflowId: this.state.id,
      workflowName: this.state.name,
      ...fields,
    }
    const done = core.emitter.trace(event)
    if (done !== undefined) await done
  }
}
