/**
 * Helpers of the OpenTelemetry trace sink (otel-sink.ts): span attributes read defensively from
 * trace events, span names, and event times as OpenTelemetry `HrTime`.
 */
import { type Attributes, type HrTime, type Span, SpanStatusCode } from '@opentelemetry/api'
import type { FluxTraceEvent } from './events.js'

export function failSpan(span: Span, message: string, time: HrTime, exception: boolean): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message })
  if (exception) span.recordException(message, time)
}

export function runAttributes(event: FluxTraceEvent): Attributes {
  return { 'flux.workflow.id': event.workflowId, 'flux.workflow.name': str(event.workflowName) }
}

export function stepAttributes(event: FluxTraceEvent): Attributes {
  return {
    ...runAttributes(event),
    'flux.step.name': str(event.stepName),
    'flux.step.index': num(event.stepIndex),
    'flux.step.attempt': num(event.attempt),
    'flux.step.commit': typeof event.commit === 'boolean' ? event.commit : undefined,
  }
}

export function stepKey(event: FluxTraceEvent): string | undefined {
  if (typeof event.stepIndex === 'number') return `#${event.stepIndex}`
  if (typeof event.stepName === 'string') return `@${event.stepName}`
  return undefined
}

/** `<kind> <name>`, the name left out when the event has none. */
export function named(kind: string, name: unknown): string {
  return typeof name === 'string' && name !== '' ? `${kind} ${name}` : kind
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/**
 * Epoch milliseconds as an `HrTime`: a plain number below `performance.now()` would be read by the
 * SDK as a monotonic time, which a fake clock's small epochs are. A bad timestamp means now.
 */
export function toHrTime(ms: unknown): HrTime {
  const value = typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : Date.now()
  let seconds = Math.floor(value / 1000)
  let nanos = Math.round((value - seconds * 1000) * 1e6)
  if (nanos >= 1e9) {
    seconds += 1
    nanos -= 1e9
  }
  return [seconds, nanos]
}
