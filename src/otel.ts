/**
 * fluxflow/otel: runs as OpenTelemetry traces. Needs `@opentelemetry/api` 1.x (an optional peer
 * dependency) and an SDK you configure; the root entry never loads this file.
 *
 * Span model:
 * - A *drive* is one stretch of a run in one process: from `workflow:start`, `workflow:resume` or
 *   `workflow:recover` to the event that ends it (`workflow:complete | error | suspend | cancel`).
 *   Each drive is a span `workflow <name>` (kind INTERNAL, `flux.drive` = start/resume/recover),
 *   parented to the context active when the drive began (so `engine.execute` inside a request
 *   span nests under it). A run that suspends and resumes, maybe in another process days later,
 *   is one trace per drive: trace ids are never derived or faked. The drives of a run share
 *   `flux.workflow.id`, set on every span, which is what to search by.
 * - Each step attempt is a child span `step <name>` from `step:start` to `step:complete | error |
 *   retry | suspend`. A retried attempt ends with status ERROR and `flux.status = retrying`; a
 *   timeout marks the attempt (`flux.step.timed_out`, a `flux.step.timeout` event) and the
 *   retry or error that follows ends it. Failures set status ERROR with the message and record
 *   an `exception` event (the engine reports messages, not stacks).
 * - A skipped step is a zero-length `step <name>` span with `flux.status = skipped`, so it shows
 *   on the timeline in its place.
 * - A rollback is a child span `rollback <name>` from `workflow:rollback_start` to
 *   `workflow:rollback_complete`; each compensation is a `compensate <step>` span under it. The
 *   engine reports a compensation only when it is over, so its span starts at the run's previous
 *   event (the same holds for a step that completes or times out in a resumed drive without a
 *   new `step:start`: a signal wait, a sleep).
 * - `signal:received` while a drive of the run is open here is a `flux.signal` span event on it.
 *   A signal sent to a parked run (the usual case) is a zero-length span `signal <name>`, and the
 *   run's next drive in this process links to it: the link says why the run resumed. A
 *   cancellation with no drive open here is likewise a zero-length `cancel <name>` span.
 * - Attributes: `flux.workflow.id`, `flux.workflow.name`, `flux.drive`, `flux.status`,
 *   `flux.step.name`, `flux.step.index`, `flux.step.attempt`, `flux.step.commit`,
 *   `flux.step.max_retries`, `flux.step.retry_delay_ms`, `flux.step.waiting_for`,
 *   `flux.step.wake_at`, `flux.workflow.waiting_for`, `flux.workflow.wake_at`,
 *   `flux.signal.name`, `flux.signal.outcome`, `flux.cancel.reason`, `flux.rollback.steps`,
 *   `flux.interrupted`. Inputs, data and signal payloads are never recorded.
 * - Times are the events' timestamps (the engine's clock, so a fake clock gives exact spans).
 *
 * Robustness: `emit` is synchronous and never throws; events out of order or for a run with no
 * open drive here (a `step:complete` without its start, garbage) are dropped. A drive can end
 * with no event (lease lost, engine stopped, run re-parked on wake-up): its spans stay open until
 * the run's next drive here (which ends them at their last event, `flux.interrupted = true`),
 * `maxOpenRuns` evicts them, or `endAll()` ends them. Call `sink.endAll()` after
 * `engine.close()` and before the SDK's `shutdown()`. Memory: a run's entry is deleted when its
 * drive span ends; pending signal links are bounded.
 *
 * @example
 * ```ts
 * import { FluxEngine } from 'fluxflow'
 * import { OpenTelemetryTraceSink } from 'fluxflow/otel'
 *
 * const sink = new OpenTelemetryTraceSink() // or { tracer }, or { tracerProvider }
 * const engine = new FluxEngine({ storage, trace: sink })
 * // …
 * await engine.close()
 * sink.endAll()
 * await sdk.shutdown()
 * ```
 */
export { OpenTelemetryTraceSink, type OpenTelemetryTraceSinkOptions } from './trace/otel-sink.js'
