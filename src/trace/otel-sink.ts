/**
 * The OpenTelemetry trace sink. Only the `fluxflow/otel` entry imports this file, so
 * `@opentelemetry/api` stays out of the root entry's graph; src/otel.ts documents the span model.
 */
import {
  type Attributes,
  type Context,
  context,
  diag,
  type HrTime,
  type Link,
  type Span,
  SpanKind,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import type { FluxTraceEvent, FluxTraceSink } from './events.js'
import {
  failSpan,
  named,
  num,
  runAttributes,
  stepAttributes,
  stepKey,
  str,
  toHrTime,
} from './otel-attributes.js'

/** Instrumentation scope version; kept equal to package.json (a test checks it). */
const VERSION = '0.1.0'
/** Runs whose signal spans wait to be linked from their next drive, at most. */
const MAX_PENDING_RUNS = 1024
/** Signal spans kept per run for that link, at most. */
const MAX_PENDING_LINKS = 16

/** Options of {@link OpenTelemetryTraceSink}. */
export interface OpenTelemetryTraceSinkOptions {
  /** The tracer to record with; wins over `tracerProvider` and `name`. */
  tracer?: Tracer
  /** Where to get the tracer; default the global provider of `@opentelemetry/api`. */
  tracerProvider?: TracerProvider
  /** Instrumentation scope name of the tracer. Default `'fluxflow'`. */
  name?: string
  /**
   * Runs with an open drive span kept at most. A drive that ends without an event (lease lost,
   * engine stopped) stays open until the run's next drive here or {@link OpenTelemetryTraceSink.endAll};
   * past this bound the oldest is ended, marked `flux.interrupted`. Default 10 000.
   */
  maxOpenRuns?: number
}

/** The open spans of one run's current drive in this process. */
interface Drive {
  span: Span
  ctx: Context
  rollback: { span: Span; ctx: Context } | undefined
  /** Open attempt spans, keyed by step index (or name when an event has no index). */
  steps: Map<string, Span>
  /** Time of the run's latest event: where spans the engine reports only the end of start. */
  last: HrTime
}

/**
 * Turns each drive of a run into a span `workflow <name>` and each step attempt into a child span
 * `step <name>`, timed by the engine's clock (span model and example: src/otel.ts). `emit` is
 * synchronous and never throws: what it cannot place is dropped, and a failure of the
 * OpenTelemetry SDK is reported to its `diag` logger.
 */
export class OpenTelemetryTraceSink implements FluxTraceSink {
  readonly #tracer: Tracer
  readonly #maxOpenRuns: number
  readonly #drives = new Map<string, Drive>()
  /** Signal spans sent to a run with no open drive here, linked from its next drive. */
  readonly #pending = new Map<string, Link[]>()

  constructor(options: OpenTelemetryTraceSinkOptions = {}) {
    const name = options.name ?? 'fluxflow'
    this.#tracer =
      options.tracer ?? (options.tracerProvider ?? trace.getTracerProvider()).getTracer(name, VERSION)
    const max = options.maxOpenRuns ?? 10_000
    this.#maxOpenRuns = Number.isFinite(max) && max >= 1 ? Math.floor(max) : 10_000
  }

  /** Runs with an open drive span in this sink. */
  get openRuns(): number {
    return this.#drives.size
  }

  emit(event: FluxTraceEvent): void {
    try {
      this.#handle(event)
    } catch (error) {
      diag.warn(`fluxflow: OpenTelemetryTraceSink dropped an event: ${String(error)}`)
    }
  }

  /**
   * Ends every open span (steps, rollbacks, drives), marked `flux.interrupted`, at `endTime`
   * (epoch ms; default now), and forgets them. Call it after `engine.close()` and before your
   * SDK's `shutdown()`, so the drives the engine released still reach the exporter.
   */
  endAll(endTime: number = Date.now()): void {
    const time = toHrTime(endTime)
    for (const [id, drive] of [...this.#drives]) {
      try {
        this.#end(id, drive, time, true)
      } catch (error) {
        diag.warn(`fluxflow: OpenTelemetryTraceSink could not end a span: ${String(error)}`)
      }
    }
    this.#drives.clear()
    this.#pending.clear()
  }

  #handle(event: FluxTraceEvent): void {
    if (event === null || typeof event !== 'object' || typeof event.workflowId !== 'string') return
    const id = event.workflowId
    const time = toHrTime(event.timestamp)
    switch (event.type) {
      case 'workflow:start':
      case 'workflow:resume':
      case 'workflow:recover':
        this.#startDrive(event, time)
        return
      case 'workflow:cancel':
        this.#cancel(event, time)
        return
      case 'signal:received':
        this.#signal(event, time)
        return
    }
    const drive = this.#drives.get(id)
    if (drive === undefined) return
    switch (event.type) {
      case 'workflow:complete':
      case 'workflow:error':
      case 'workflow:suspend':
        this.#endDrive(id, drive, event, time)
        return
      case 'workflow:rollback_start':
        this.#rollbackStart(drive, event, time)
        break
      case 'workflow:rollback_complete':
        this.#rollbackComplete(drive, event, time)
        break
      case 'step:start':
        this.#stepStart(drive, event, time)
        break
      case 'step:complete':
      case 'step:error':
      case 'step:retry':
      case 'step:suspend':
        this.#stepEnd(drive, event, time)
        break
      case 'step:timeout':
        this.#stepTimeout(drive, event, time)
        break
      case 'step:skipped':
        this.#stepSkipped(drive, event, time)
        break
      case 'step:compensate':
        this.#compensate(drive, event, time)
        break
      default:
        return
    }
    drive.last = time
  }

  #startDrive(event: FluxTraceEvent, time: HrTime): void {
    const id = event.workflowId
    const previous = this.#drives.get(id)
    // A drive that ended without an event (lease lost, re-parked) is closed at its last event.
    if (previous !== undefined) this.#end(id, previous, previous.last, true)
    while (this.#drives.size >= this.#maxOpenRuns) {
      const [oldest, drive] = this.#drives.entries().next().value!
      this.#end(oldest, drive, drive.last, true)
    }
    const links = this.#pending.get(id)
    this.#pending.delete(id)
    const parent = context.active()
    const attributes = { ...runAttributes(event), 'flux.drive': event.type.slice('workflow:'.length) }
    const span = this.#open(named('workflow', event.workflowName), parent, time, attributes, links)
    this.#drives.set(id, {
      span,
      ctx: trace.setSpan(parent, span),
      rollback: undefined,
      steps: new Map(),
      last: time,
    })
  }

  #endDrive(id: string, drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    const span = drive.span
    span.setAttributes({ 'flux.status': str(event.status) })
    if (event.type === 'workflow:suspend') {
      span.setAttributes({
        'flux.workflow.waiting_for': str(event.meta?.waitingFor),
        'flux.workflow.wake_at': num(event.meta?.wakeAt),
      })
    }
    if (event.type === 'workflow:error') {
      const message = str(event.error) ?? 'workflow failed'
      // A rollback still open here stopped short: a compensation failed.
      const rollback = drive.rollback?.span
      rollback?.setAttribute('flux.status', str(event.status) ?? 'compensation_failed')
      if (rollback !== undefined) failSpan(rollback, 'compensation failed', time, false)
      failSpan(span, message, time, true)
    }
    this.#end(id, drive, time, false)
  }

  /** Ends a drive's open spans and forgets the drive; `interrupted` marks spans cut short. */
  #end(id: string, drive: Drive, time: HrTime, interrupted: boolean): void {
    this.#drives.delete(id)
    for (const span of drive.steps.values()) {
      span.setAttribute('flux.interrupted', true)
      span.end(time)
    }
    drive.steps.clear()
    if (drive.rollback !== undefined) {
      if (interrupted) drive.rollback.span.setAttribute('flux.interrupted', true)
      drive.rollback.span.end(time)
      drive.rollback = undefined
    }
    if (interrupted) drive.span.setAttribute('flux.interrupted', true)
    drive.span.end(time)
  }

  #cancel(event: FluxTraceEvent, time: HrTime): void {
    const id = event.workflowId
    const reason = str(event.error)
    const drive = this.#drives.get(id)
    this.#pending.delete(id)
    if (drive !== undefined) {
      drive.span.setAttributes({ 'flux.status': 'cancelled', 'flux.cancel.reason': reason })
      this.#end(id, drive, time, false)
      return
    }
    // A parked run (or one driven elsewhere) was cancelled: the operation gets a span of its own.
    this.#instant(named('cancel', event.workflowName), context.active(), time, {
      ...runAttributes(event),
      'flux.status': 'cancelled',
      'flux.cancel.reason': reason,
    })
  }

  #signal(event: FluxTraceEvent, time: HrTime): void {
    const id = event.workflowId
    const attributes: Attributes = {
      'flux.signal.name': str(event.meta?.signal),
      'flux.signal.outcome': str(event.meta?.outcome),
    }
    const drive = this.#drives.get(id)
    if (drive !== undefined) {
      drive.span.addEvent('flux.signal', attributes, time)
      return
    }
    const span = this.#instant(named('signal', event.meta?.signal), context.active(), time, {
      ...runAttributes(event),
      ...attributes,
    })
    const links = this.#pending.get(id) ?? []
    this.#pending.delete(id)
    links.push({ context: span.spanContext(), attributes: { 'flux.link': 'signal' } })
    if (links.length > MAX_PENDING_LINKS) links.shift()
    this.#pending.set(id, links)
    if (this.#pending.size > MAX_PENDING_RUNS) this.#pending.delete(this.#pending.keys().next().value!)
  }

  #rollbackStart(drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    drive.rollback?.span.end(time)
    const steps = Array.isArray(event.meta?.steps)
      ? (event.meta.steps as unknown[]).filter((s): s is string => typeof s === 'string')
      : undefined
    const span = this.#open(named('rollback', event.workflowName), drive.ctx, time, {
      ...runAttributes(event),
      'flux.error': str(event.error),
      'flux.rollback.steps': steps,
    })
    drive.rollback = { span, ctx: trace.setSpan(drive.ctx, span) }
  }

  #rollbackComplete(drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    const rollback = drive.rollback
    if (rollback === undefined) {
      // A rollback continued by this drive (after a crash) began in an earlier one.
      drive.span.addEvent('flux.rollback_complete', {}, time)
      return
    }
    rollback.span.setAttribute('flux.status', str(event.status) ?? 'rolled_back')
    rollback.span.end(time)
    drive.rollback = undefined
  }

  #stepStart(drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    const key = stepKey(event)
    if (key === undefined) return
    const open = drive.steps.get(key)
    if (open !== undefined) {
      open.setAttribute('flux.interrupted', true)
      open.end(time)
    }
    drive.steps.set(key, this.#stepSpan(drive, event, time))
  }

  #stepEnd(drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    const key = stepKey(event)
    if (key === undefined) return
    const span = drive.steps.get(key) ?? this.#stepSpan(drive, event, drive.last)
    drive.steps.delete(key)
    span.setAttributes(stepAttributes(event))
    const meta = event.meta
    switch (event.type) {
      case 'step:complete':
        span.setAttributes({
          'flux.status': 'completed',
          'flux.signal.name': str(meta?.signal),
          'flux.step.slept': meta?.slept === true ? true : undefined,
        })
        break
      case 'step:suspend':
        span.setAttributes({
          'flux.status': 'suspended',
          'flux.step.waiting_for': str(meta?.waitingFor),
          'flux.step.wake_at': num(meta?.wakeAt),
        })
        break
      case 'step:retry':
        span.setAttributes({
          'flux.status': 'retrying',
          'flux.step.max_retries': num(event.maxRetries),
          'flux.step.retry_delay_ms': num(meta?.delay),
        })
        failSpan(span, str(event.error) ?? 'step failed', time, true)
        break
      default:
        span.setAttribute('flux.status', str(event.status) ?? 'failed')
        failSpan(span, str(event.error) ?? 'step failed', time, true)
    }
    span.end(time)
  }

  #stepTimeout(drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    const key = stepKey(event)
    if (key === undefined) return
    let span = drive.steps.get(key)
    if (span === undefined) {
      // A wait that timed out in a resumed drive: its attempt began in an earlier drive.
      span = this.#stepSpan(drive, event, drive.last)
      drive.steps.set(key, span)
    }
    const message = str(event.error) ?? 'step timed out'
    span.setAttribute('flux.step.timed_out', true)
    span.addEvent('flux.step.timeout', { 'flux.error': message }, time)
    // The step:retry or step:error that follows ends the span.
    failSpan(span, message, time, false)
  }

  #stepSkipped(drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    const span = this.#stepSpan(drive, event, time)
    span.setAttribute('flux.status', 'skipped')
    span.end(time)
  }

  #compensate(drive: Drive, event: FluxTraceEvent, time: HrTime): void {
    // The engine reports a compensation once it is over; it began after the run's previous event.
    const parent = drive.rollback?.ctx ?? drive.ctx
    const span = this.#open(named('compensate', event.stepName), parent, drive.last, {
      ...stepAttributes(event),
      'flux.status': str(event.status),
    })
    const error = str(event.error)
    if (error !== undefined) failSpan(span, error, time, true)
    span.end(time)
  }

  #stepSpan(drive: Drive, event: FluxTraceEvent, start: HrTime): Span {
    return this.#open(named('step', event.stepName), drive.ctx, start, stepAttributes(event))
  }

  /** A zero-length span for an operation on a run outside any drive here. */
  #instant(name: string, parent: Context, time: HrTime, attributes: Attributes): Span {
    const span = this.#open(name, parent, time, attributes)
    span.end(time)
    return span
  }

  #open(name: string, parent: Context, startTime: HrTime, attributes: Attributes, links?: Link[]): Span {
    const options = { kind: SpanKind.INTERNAL, startTime, attributes }
    return this.#tracer.startSpan(name, links !== undefined ? { ...options, links } : options, parent)
  }
}
