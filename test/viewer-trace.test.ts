/**
 * `flux dev --trace <file>`: the origin's use case, with runs told apart. A real engine writes
 * the trace through `JsonFileTraceSink`; the server follows the file as it grows and starts over
 * when it is truncated.
 */
import { appendFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevSession, startDev } from '../src/cli/dev-command.js'
import { parseEvent } from '../src/cli/trace-source.js'
import type { RunDetailView, RunListView } from '../src/cli/view-model.js'
import { FluxEngine, FluxSilentLogger, JsonFileTraceSink, MemoryStorage } from '../src/index.js'
import { tempDir } from './helpers/sqlite-temp.js'
import { until, viewerFlows } from './helpers/viewer-fixtures.js'
import { openEvents, postJson, raw } from './helpers/viewer-http.js'

const dir = tempDir('fluxflow-trace')
const tracePath = dir.file('trace.ndjson')
const flows = viewerFlows({ sendBroken: true })
let dev: DevSession

async function traced(run: (engine: FluxEngine) => Promise<unknown>, reset = false): Promise<void> {
  const trace = new JsonFileTraceSink({ path: tracePath, reset })
  const engine = new FluxEngine({ storage: new MemoryStorage(), trace, logger: new FluxSilentLogger() })
  try {
    await run(engine)
  } finally {
    await engine.close()
    await trace.close()
  }
}

const get = async <T>(path: string): Promise<T> => JSON.parse((await raw(dev.server.url, path)).body) as T

beforeAll(async () => {
  // The viewer may start before the application has written anything.
  dev = await startDev(['--trace', tracePath, '--port', '0', '--allow-actions'], {
    stdout: () => {},
    stderr: () => {},
    env: {},
  })
  expect((await get<RunListView>('/api/runs')).total).toBe(0)
  await traced(async (engine) => {
    await engine.execute(flows.checkout, {}, { id: 'ok' })
    await engine.execute(flows.checkout, { failShip: true }, { id: 'undone' })
    await engine.execute(flows.approval, { amount: 1 }, { id: 'waiting' })
    await engine.execute(flows.approval, { amount: 2 }, { id: 'signalled' })
    await engine.signal(flows.approval, 'signalled', 'approved', { by: 'trace' })
    await engine.execute(flows.invoice, { to: 'x' }, { id: 'broken' })
  })
})

afterAll(async () => {
  await dev?.close()
  dir.remove()
})

describe('flux dev --trace', () => {
  it('tells runs apart and rebuilds each from its events', async () => {
    await until(async () => (await get<RunListView>('/api/runs')).total === 5)
    const list = await get<RunListView>('/api/runs')
    expect(Object.fromEntries(list.runs.map((r) => [r.id, r.status]))).toEqual({
      ok: 'completed',
      undone: 'rolled_back',
      waiting: 'suspended',
      signalled: 'completed',
      broken: 'failed',
    })
    expect(
      (await get<RunListView>('/api/runs?status=failed,rolled_back&workflow=invoice')).runs.map((r) => r.id),
    ).toEqual(['broken'])
    const undone = await get<RunDetailView>('/api/runs/undone')
    expect(undone.source).toBe('trace')
    expect(undone.steps.map((s) => [s.name, s.kind, s.status])).toEqual([
      ['validate', 'step', 'completed'],
      ['reserve-stock', 'step', 'compensated'],
      ['charge-card', 'commit', 'completed'],
      ['gift-wrap', 'step', 'skipped'],
      ['ship', 'step', 'failed'],
    ])
    expect(
      undone.steps[4]!.failedAttempts.map((a) => [
        a.attempt,
        a.backoffUntil === null ? null : a.backoffUntil - a.at,
      ]),
    ).toEqual([
      [1, 15],
      [2, 30],
      [3, null],
    ])
    expect(undone.error?.message).toBe('carrier API down')
    expect(undone.input).toBe('{ failShip: true }')
    expect(undone.events?.[0]?.type).toBe('workflow:start')
    const waiting = await get<RunDetailView>('/api/runs/waiting')
    expect(waiting.run.waitingFor).toBe('approved')
    expect(waiting.steps[1]).toMatchObject({ status: 'suspended', waitingFor: 'approved' })
    const signalled = await get<RunDetailView>('/api/runs/signalled')
    expect(signalled.signals.received).toEqual([
      { name: 'approved', step: '', at: expect.any(Number), payload: '{ by: "trace" }' },
    ])
  })

  it('is read-only', async () => {
    expect((await get<{ source: string; actions: boolean }>('/api/info')).actions).toBe(false)
    const res = await postJson(dev.server.url, '/api/runs/waiting/cancel', {})
    expect(res.status).toBe(403)
    expect(res.body).toContain('read-only')
  })

  it('follows the file as it grows, skips lines that are not events, and starts over when it is truncated', async () => {
    const stream = openEvents(dev.server.url, '/api/events?workflow=ping')
    try {
      await stream.until((events) => events.some((e) => e.event === 'list'))
      appendFileSync(tracePath, 'not json\n{"type":"x"}\n')
      await traced((engine) => engine.execute(flows.ping, undefined, { id: 'late' }))
      await stream.until((events) => events.some((e) => e.event === 'list' && e.data.total === 1))
      expect((await get<RunDetailView>('/api/runs/late')).run.status).toBe('completed')

      writeFileSync(tracePath, '')
      await traced((engine) => engine.execute(flows.ping, undefined, { id: 'fresh' }), true)
      await until(async () => (await get<RunListView>('/api/runs')).total === 1)
      expect((await get<RunListView>('/api/runs')).runs[0]!.id).toBe('fresh')
      // Rewritten again with more than before: the size alone would not tell.
      await traced(
        (engine) =>
          engine.executeBatch(
            flows.ping,
            Array.from({ length: 10 }, () => undefined),
          ),
        true,
      )
      await until(async () => (await get<RunListView>('/api/runs')).total === 10)
      expect((await get<RunListView>('/api/runs?q=fresh')).total).toBe(0)
    } finally {
      stream.close()
    }
  })

  it('reads only well-formed events', () => {
    expect(parseEvent('{"type":"step:start","workflowId":"a","timestamp":5}')).toMatchObject({
      workflowName: '',
    })
    expect(
      parseEvent('{"type":"step:start","workflowId":"a","timestamp":"2026-01-01T00:00:00Z"}')?.timestamp,
    ).toBe(Date.UTC(2026, 0, 1))
    expect(parseEvent('{"type":"step:start"}')).toBeNull()
    expect(parseEvent('[1]')).toBeNull()
    expect(parseEvent('{"type":"x","workflowId":"a","timestamp":"never"}')).toBeNull()
  })
})
