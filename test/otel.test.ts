import { readFileSync } from 'node:fs'
import { type HrTime, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { OpenTelemetryTraceSink } from 'fluxflow/otel'
import { describe, expect, it } from 'vitest'
import { createWorkflow, Flux, type FluxTraceEvent, NonRetryableError } from '../src/index.js'
import { FakeClock } from '../src/testing/index.js'
import { testEngine } from './helpers/engine.js'

function setup() {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const sink = new OpenTelemetryTraceSink({ tracer: provider.getTracer('test') })
  const clock = new FakeClock()
  const { engine } = testEngine({ clock, trace: sink })
  const spans = () => exporter.getFinishedSpans()
  const named = (name: string) => spans().filter((s) => s.name === name)
  const one = (name: string) => {
    const found = named(name)
    expect(found, name).toHaveLength(1)
    return found[0]!
  }
  return { exporter, provider, sink, clock, engine, spans, named, one, t0: clock.now() }
}

const ms = (t: HrTime) => t[0] * 1000 + t[1] / 1e6
const times = (s: ReadableSpan) => [ms(s.startTime), ms(s.endTime)]
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
const idOf = (s: ReadableSpan) => s.spanContext().spanId

describe('OpenTelemetryTraceSink', () => {
  it('a successful run: one workflow span, one child span per step, timed by the engine clock', async () => {
    const { engine, clock, spans, one, named, t0 } = setup()
    const flow = createWorkflow('order')
      .input<{ n: number }>()
      .step('a', async () => clock.advance(100))
      .commit('b', async () => clock.advance(200))
      .step('c', async () => clock.advance(300))
    const result = await engine.execute(flow, { n: 1 })
    expect(result.status).toBe('completed')

    expect(spans()).toHaveLength(4)
    const run = one('workflow order')
    expect(run.kind).toBe(0) // INTERNAL
    expect(times(run)).toEqual([t0, t0 + 600])
    expect(parentOf(run)).toBeUndefined()
    expect(run.status.code).toBe(SpanStatusCode.UNSET)
    expect(run.attributes).toMatchObject({
      'flux.workflow.id': result.id,
      'flux.workflow.name': 'order',
      'flux.drive': 'start',
      'flux.status': 'completed',
    })
    const steps = ['a', 'b', 'c'].map((n) => one(`step ${n}`))
    expect(steps.map(times)).toEqual([
      [t0, t0 + 100],
      [t0 + 100, t0 + 300],
      [t0 + 300, t0 + 600],
    ])
    for (const [i, step] of steps.entries()) {
      expect(parentOf(step)).toBe(idOf(run))
      expect(step.spanContext().traceId).toBe(run.spanContext().traceId)
      expect(step.attributes).toMatchObject({
        'flux.workflow.id': result.id,
        'flux.step.name': ['a', 'b', 'c'][i],
        'flux.step.index': i,
        'flux.step.attempt': 1,
        'flux.step.commit': i === 1,
        'flux.status': 'completed',
      })
    }
    // Payloads are never recorded.
    expect(JSON.stringify(spans().map((s) => s.attributes))).not.toContain('"n"')
    expect(named('step a')[0]!.instrumentationScope.name).toBe('test')
  })

  it('a retried step: one span per attempt, the failed one ERROR with its exception', async () => {
    const { engine, clock, one, named, t0 } = setup()
    const flow = createWorkflow('flaky').step(
      'call',
      (ctx) => {
        if (ctx.attempt === 1) throw new Error('boom')
      },
      { retries: 2, backoff: { initial: 1000, jitter: false } },
    )
    const running = engine.execute(flow, {})
    await clock.advance(1000)
    expect((await running).status).toBe('completed')

    const run = one('workflow flaky')
    const [first, second] = named('step call').sort((a, b) => ms(a.startTime) - ms(b.startTime))
    expect(named('step call')).toHaveLength(2)
    expect(first!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' })
    expect(first!.attributes).toMatchObject({
      'flux.step.attempt': 1,
      'flux.status': 'retrying',
      'flux.step.max_retries': 2,
      'flux.step.retry_delay_ms': 1000,
    })
    expect(first!.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([
      ['exception', 'boom'],
    ])
    expect(times(first!)).toEqual([t0, t0])
    expect(second!.status.code).toBe(SpanStatusCode.UNSET)
    expect(second!.attributes).toMatchObject({ 'flux.step.attempt': 2, 'flux.status': 'completed' })
    expect(times(second!)).toEqual([t0 + 1000, t0 + 1000])
    expect([parentOf(first!), parentOf(second!)]).toEqual([idOf(run), idOf(run)])
    expect(times(run)).toEqual([t0, t0 + 1000])
  })

  it('a timed-out attempt is marked, then ended by its retry', async () => {
    const { engine, clock, named } = setup()
    const flow = createWorkflow('slow').step(
      'call',
      async (ctx) => {
        if (ctx.attempt === 1) await new Promise(() => {})
      },
      { retries: 1, timeout: 50, backoff: { initial: 10, jitter: false } },
    )
    const running = engine.execute(flow, {})
    await clock.advance(100)
    expect((await running).status).toBe('completed')
    const [first, second] = named('step call').sort((a, b) => ms(a.startTime) - ms(b.startTime))
    expect(first!.attributes).toMatchObject({ 'flux.step.timed_out': true, 'flux.status': 'retrying' })
    expect(first!.status.code).toBe(SpanStatusCode.ERROR)
    expect(first!.events.map((e) => e.name)).toEqual(['flux.step.timeout', 'exception'])
    expect(second!.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('a final failure: ERROR on the step and the workflow, compensations under a rollback span', async () => {
    const { engine, clock, one, t0 } = setup()
    const flow = createWorkflow('trip')
      .step('flight', () => {}, { compensate: async () => clock.advance(5) })
      .step('hotel', () => {}, { compensate: async () => clock.advance(7) })
      .step('pay', () => {
        throw new NonRetryableError('card declined')
      })
    const result = await engine.execute(flow, {})
    expect(result.status).toBe('rolled_back')

    const run = one('workflow trip')
    expect(run.status).toEqual({ code: SpanStatusCode.ERROR, message: 'card declined' })
    expect(run.attributes['flux.status']).toBe('rolled_back')
    expect(run.events.map((e) => e.name)).toEqual(['exception'])
    const pay = one('step pay')
    expect(pay.status).toEqual({ code: SpanStatusCode.ERROR, message: 'card declined' })
    expect(pay.attributes['flux.status']).toBe('failed')
    const rollback = one('rollback trip')
    expect(parentOf(rollback)).toBe(idOf(run))
    expect(rollback.attributes).toMatchObject({
      'flux.status': 'rolled_back',
      'flux.error': 'card declined',
      'flux.rollback.steps': ['hotel', 'flight'],
    })
    expect(times(rollback)).toEqual([t0, t0 + 12])
    const hotel = one('compensate hotel')
    const flight = one('compensate flight')
    expect([parentOf(hotel), parentOf(flight)]).toEqual([idOf(rollback), idOf(rollback)])
    expect([times(hotel), times(flight)]).toEqual([
      [t0, t0 + 7],
      [t0 + 7, t0 + 12],
    ])
    expect(hotel.attributes).toMatchObject({ 'flux.step.name': 'hotel', 'flux.status': 'compensated' })
    expect(times(run)).toEqual([t0, t0 + 12])
  })

  it('a failed compensation: ERROR on the compensate and rollback spans, compensation_failed', async () => {
    const { engine, one } = setup()
    const flow = createWorkflow('stuck')
      .step('hold', () => {}, {
        retries: 0,
        compensate: () => {
          throw new Error('cannot release')
        },
      })
      .step('fail', () => {
        throw new NonRetryableError('nope')
      })
    expect((await engine.execute(flow, {})).status).toBe('compensation_failed')
    expect(one('compensate hold').status).toEqual({ code: SpanStatusCode.ERROR, message: 'cannot release' })
    expect(one('rollback stuck').status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'compensation failed',
    })
    expect(one('rollback stuck').attributes['flux.status']).toBe('compensation_failed')
    const run = one('workflow stuck')
    expect(run.attributes['flux.status']).toBe('compensation_failed')
    expect(run.status).toEqual({ code: SpanStatusCode.ERROR, message: 'nope' })
  })

  it('a wait and a signal: two drive spans (two traces) of one run, the resume linked to the signal', async () => {
    const { engine, clock, spans, one, named, t0 } = setup()
    const flow = createWorkflow('approval')
      .step('prepare', () => {})
      .step('wait', () => Flux.wait('approved'))
      .step('pay', () => {})
    const first = await engine.execute(flow, {})
    expect(first.status).toBe('suspended')
    await clock.advance(60_000)
    const done = await engine.signal(flow, first.id, 'approved', { secret: 'x' })
    expect(done.status).toBe('completed')

    expect(spans().every((s) => s.attributes['flux.workflow.id'] === first.id)).toBe(true)
    const drives = named('workflow approval').sort((a, b) => ms(a.startTime) - ms(b.startTime))
    expect(drives).toHaveLength(2)
    const [start, resume] = drives as [ReadableSpan, ReadableSpan]
    expect(start.attributes).toMatchObject({
      'flux.drive': 'start',
      'flux.status': 'suspended',
      'flux.workflow.waiting_for': 'approved',
    })
    expect(resume.attributes).toMatchObject({ 'flux.drive': 'resume', 'flux.status': 'completed' })
    expect(times(start)).toEqual([t0, t0])
    expect(times(resume)).toEqual([t0 + 60_000, t0 + 60_000])
    expect(resume.spanContext().traceId).not.toBe(start.spanContext().traceId)

    const signal = one('signal approved')
    expect(times(signal)).toEqual([t0 + 60_000, t0 + 60_000])
    expect(signal.attributes).toMatchObject({
      'flux.signal.name': 'approved',
      'flux.signal.outcome': 'delivered',
      'flux.workflow.name': 'approval',
    })
    expect(resume.links.map((l) => l.context.spanId)).toEqual([idOf(signal)])
    expect(JSON.stringify(spans().map((s) => s.attributes))).not.toContain('secret')

    const waits = named('step wait').sort((a, b) => ms(a.startTime) - ms(b.startTime))
    expect(waits.map((w) => [parentOf(w), w.attributes['flux.status']])).toEqual([
      [idOf(start), 'suspended'],
      [idOf(resume), 'completed'],
    ])
    expect(waits[0]!.attributes['flux.step.waiting_for']).toBe('approved')
    expect(waits[1]!.attributes['flux.signal.name']).toBe('approved')
    expect(parentOf(one('step pay'))).toBe(idOf(resume))
  })

  it('a signal that arrives while the run is driven here is an event on the drive span', async () => {
    const { engine, one } = setup()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const flow = createWorkflow('early')
      .step('slow', async () => gate)
      .step('wait', () => Flux.wait('go'))
    const running = engine.execute(flow, {}, { id: 'early-1' })
    await new Promise((r) => setImmediate(r))
    await engine.signal(flow, 'early-1', 'go')
    release()
    expect((await running).status).toBe('completed')
    const run = one('workflow early')
    expect(run.events.map((e) => [e.name, e.attributes?.['flux.signal.name']])).toEqual([
      ['flux.signal', 'go'],
    ])
  })

  it('a skipped step is a zero-length child span', async () => {
    const { engine, one, t0 } = setup()
    const flow = createWorkflow('branch')
      .step('skip', () => {}, { when: () => false })
      .step('run', () => {})
    expect((await engine.execute(flow, {})).status).toBe('completed')
    const skip = one('step skip')
    expect(skip.attributes).toMatchObject({ 'flux.status': 'skipped', 'flux.step.index': 0 })
    expect(times(skip)).toEqual([t0, t0])
    expect(parentOf(skip)).toBe(idOf(one('workflow branch')))
  })

  it('cancelling a parked run is a span of its own', async () => {
    const { engine, one } = setup()
    const flow = createWorkflow('parked').step('wait', () => Flux.wait('never'))
    const { id } = await engine.execute(flow, {})
    expect(await engine.cancel(id, 'not needed')).toBe(true)
    expect(one('cancel parked').attributes).toMatchObject({
      'flux.workflow.id': id,
      'flux.status': 'cancelled',
      'flux.cancel.reason': 'not needed',
    })
  })

  it('never throws on garbage or out-of-order events, and endAll ends what is left open', () => {
    const { sink, spans } = setup()
    const base = { timestamp: 1000, workflowId: 'w', workflowName: 'g' }
    const garbage: unknown[] = [
      null,
      undefined,
      42,
      'step:start',
      {},
      { type: 'step:complete', ...base, stepName: 'a', stepIndex: 0 },
      { type: 'workflow:complete', ...base },
      { type: 'workflow:rollback_complete', ...base },
      { type: 'step:compensate', ...base, stepName: 'a' },
      { type: 'nope', ...base },
      { type: 'workflow:start', timestamp: Number.NaN, workflowId: 7 },
    ]
    for (const event of garbage) expect(() => sink.emit(event as FluxTraceEvent)).not.toThrow()
    expect(spans()).toHaveLength(0)

    const odd: Partial<FluxTraceEvent>[] = [
      { type: 'workflow:start', ...base, workflowName: undefined as never },
      { type: 'step:start', ...base },
      { type: 'step:start', ...base, stepIndex: 0, stepName: 'a', timestamp: -5 },
      { type: 'step:start', ...base, stepIndex: 0, stepName: 'a', attempt: 'x' as never },
      { type: 'step:retry', ...base, stepIndex: 1, meta: null as never },
      { type: 'step:timeout', ...base, stepIndex: 2, error: {} as never },
      { type: 'workflow:rollback_start', ...base, meta: { steps: [1, 'a'] } },
      { type: 'signal:received', ...base, meta: { signal: 3 } },
      { type: 'workflow:start', ...base, timestamp: 2000 },
      { type: 'step:start', ...base, timestamp: 2000, stepIndex: 0, stepName: 'a' },
    ]
    for (const event of odd) expect(() => sink.emit(event as FluxTraceEvent)).not.toThrow()
    expect(sink.openRuns).toBe(1)
    const before = spans().length
    expect(before).toBeGreaterThan(0)
    sink.endAll(5000)
    expect(sink.openRuns).toBe(0)
    const ended = spans().slice(before)
    expect(ended.map((s) => [s.name, s.attributes['flux.interrupted'], ms(s.endTime)])).toEqual([
      ['step a', true, 5000],
      ['workflow g', true, 5000],
    ])
    expect(() => sink.endAll()).not.toThrow()
  })

  it('keeps at most maxOpenRuns drives open, ending the oldest at its last event', () => {
    const exporter = new InMemorySpanExporter()
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
    const sink = new OpenTelemetryTraceSink({ tracer: provider.getTracer('t'), maxOpenRuns: 2 })
    for (const [i, id] of ['a', 'b', 'c'].entries()) {
      sink.emit({ type: 'workflow:start', timestamp: 1000 + i, workflowId: id, workflowName: 'w' })
      sink.emit({ type: 'step:start', timestamp: 1100 + i, workflowId: id, workflowName: 'w', stepIndex: 0 })
    }
    expect(sink.openRuns).toBe(2)
    const ended = exporter.getFinishedSpans()
    expect(ended.map((s) => [s.name, s.attributes['flux.workflow.id'], ms(s.endTime)])).toEqual([
      ['step', 'a', 1100],
      ['workflow w', 'a', 1100],
    ])
    expect(ended.every((s) => s.attributes['flux.interrupted'] === true)).toBe(true)
  })

  it('a tracer that throws never reaches the engine', async () => {
    const broken = {
      startSpan() {
        throw new Error('exporter down')
      },
    } as unknown as Tracer
    const sink = new OpenTelemetryTraceSink({ tracer: broken })
    const { engine } = testEngine({ trace: sink })
    const flow = createWorkflow('ok').step('a', () => {})
    expect((await engine.execute(flow, {})).status).toBe('completed')
  })

  it('gets its tracer from a provider, named fluxflow at the package version', async () => {
    const exporter = new InMemorySpanExporter()
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
    const { engine } = testEngine({ trace: new OpenTelemetryTraceSink({ tracerProvider: provider }) })
    const flow = createWorkflow('scope').step('a', () => {})
    await engine.execute(flow, {})
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    const scope = exporter.getFinishedSpans()[0]!.instrumentationScope
    expect([scope.name, scope.version]).toEqual(['fluxflow', pkg.version])
  })
})
