/**
 * The pure parts of the viewer and CLI: the value printer, data diffs, list-query parsing, the
 * run view built from checkpoints (on MemoryStorage with a fake clock), terminal formatting.
 */
import { describe, expect, it } from 'vitest'
import { BadRequestError, parseListQuery, runDetailView, runSummary, toListParams } from '../src/cli/api.js'
import { formatDuration, formatRunList, printable, table } from '../src/cli/format.js'
import { diffData, pretty } from '../src/cli/pretty.js'
import { createWorkflow, defaultSerializer, Flux } from '../src/index.js'
import { testEngine } from './helpers/engine.js'

describe('pretty', () => {
  it('renders what the codec stores, readably', () => {
    expect(pretty('a"b')).toBe('"a\\"b"')
    expect(pretty(12n)).toBe('12n')
    expect(pretty(undefined)).toBe('undefined')
    expect(pretty(Number.NaN)).toBe('NaN')
    expect(pretty(-0)).toBe('-0')
    expect(pretty(new Date(Date.UTC(2026, 0, 1)))).toBe('Date(2026-01-01T00:00:00.000Z)')
    expect(pretty(new Date(Number.NaN))).toBe('Date(Invalid)')
    expect(pretty(new Map([['a', 1]]))).toBe('Map(1) { "a" => 1 }')
    expect(pretty(new Set([1, 2]))).toBe('Set(2) [ 1, 2 ]')
    expect(pretty(new Uint8Array([1, 255]))).toBe('Uint8Array(2) [01 ff]')
    expect(pretty(Buffer.from('hi'))).toBe('Buffer(2) [68 69]')
    expect(pretty(/x+/gi)).toBe('/x+/gi')
    expect(pretty(new URL('https://a.test/b'))).toBe('URL(https://a.test/b)')
    expect(pretty(new TypeError('boom'))).toBe('TypeError("boom")')
    expect(pretty({ 'a-b': 1, ok: [true, null] })).toBe('{ "a-b": 1, ok: [ true, null ] }')
    expect(pretty([])).toBe('[]')
    expect(pretty({})).toBe('{}')
  })

  it('breaks long values over lines, marks cycles, and stays bounded', () => {
    const long = { first: 'x'.repeat(40), second: 'y'.repeat(40) }
    expect(pretty(long)).toBe(`{\n  first: "${'x'.repeat(40)}",\n  second: "${'y'.repeat(40)}"\n}`)
    expect(pretty(long, { compact: true })).not.toContain('\n')
    const cyclic: Record<string, unknown> = { name: 'loop' }
    cyclic.self = cyclic
    expect(pretty(cyclic)).toBe('{ name: "loop", self: [Circular] }')
    const shared = { n: 1 }
    expect(pretty([shared, shared])).toBe('[ { n: 1 }, { n: 1 } ]')
    expect(
      pretty(
        Array.from({ length: 300 }, (_, i) => i),
        { compact: true },
      ),
    ).toContain('… 100 more')
    expect(pretty('z'.repeat(100), { maxLength: 10 })).toBe('"zzzzzzzzz… (92 more characters)')
    let deep: unknown = 'bottom'
    for (let i = 0; i < 20; i++) deep = [deep]
    expect(pretty(deep, { compact: true })).toContain('[…]')
  })

  it('never calls user code', () => {
    let called = false
    const sneaky = {
      get secret() {
        called = true
        return 1
      },
      toJSON() {
        called = true
      },
    }
    expect(pretty(sneaky)).toBe('{ secret: [Getter], toJSON: [Function toJSON] }')
    expect(called).toBe(false)
  })
})

describe('diffData', () => {
  it('lists top-level keys added, changed and removed, comparing by value', () => {
    const before = { a: 1, b: new Date(0), c: 'gone', same: new Map([['k', 1]]) }
    const after = { a: 2, b: new Date(0), d: true, same: new Map([['k', 1]]) }
    expect(diffData(before, after)).toEqual([
      { key: 'a', kind: 'changed', before: '1', after: '2' },
      { key: 'c', kind: 'removed', before: '"gone"' },
      { key: 'd', kind: 'added', after: 'true' },
    ])
    expect(diffData(before, after, ['a'])).toHaveLength(1)
  })
})

describe('list queries', () => {
  it('reads filters and paging, and refuses what it cannot read', () => {
    const query = parseListQuery(
      new URLSearchParams(
        'workflow=order&status=failed,suspended&q=A-&from=2026-01-01T00:00:00Z&to=1800000000000&limit=20&offset=40',
      ),
    )
    expect(query).toEqual({
      workflow: 'order',
      statuses: ['failed', 'suspended'],
      idPrefix: 'A-',
      from: Date.UTC(2026, 0, 1),
      to: 1_800_000_000_000,
      limit: 20,
      offset: 40,
    })
    expect(toListParams(query)).toEqual({
      workflowName: 'order',
      statuses: ['failed', 'suspended'],
      idPrefix: 'A-',
      createdAfter: Date.UTC(2026, 0, 1),
      createdBefore: 1_800_000_000_000,
      limit: 20,
      offset: 40,
    })
    expect(parseListQuery(new URLSearchParams(''))).toEqual({ limit: 50, offset: 0 })
    for (const bad of ['status=nope', 'limit=0', 'limit=501', 'offset=-1', 'limit=2.5', 'from=soon'])
      expect(() => parseListQuery(new URLSearchParams(bad)), bad).toThrow(BadRequestError)
  })
})

describe('runDetailView', () => {
  it('folds checkpoints into attempts, backoff waits, waits, signals and data before/after', async () => {
    let calls = 0
    const flow = createWorkflow('detail')
      .step('a', (ctx) => {
        ctx.data.n = 1
      })
      .step(
        'flaky',
        (ctx) => {
          if (++calls < 3) throw new Error(`try ${calls}`)
          ctx.data.n = 2
        },
        { retries: 3, backoff: { initial: 100, factor: 2, jitter: false } },
      )
      .step('wait', () => Flux.wait('go'))
      .step('end', (ctx) => {
        delete ctx.data.n
        ctx.data.done = true
      })
    const { engine, clock, storage } = testEngine()
    const running = engine.execute(flow, { x: 1 }, { id: 'r1' })
    await clock.advance(100)
    await clock.advance(200)
    const suspended = await running
    expect(suspended.status).toBe('suspended')
    await clock.advance(5_000)
    await engine.signal(flow, 'r1', 'go', { by: 'me' })
    const snapshot = (await storage.loadRun('r1'))!
    const view = runDetailView(defaultSerializer, snapshot, clock.now())

    expect(view.run).toMatchObject({ id: 'r1', status: 'completed', step: null, stepIndex: 4, stepCount: 4 })
    const flaky = view.steps[1]!
    expect(flaky.attempts).toBe(3)
    expect(flaky.failedAttempts).toEqual([
      { attempt: 1, at: expect.any(Number), error: 'try 1', backoffUntil: expect.any(Number) },
      { attempt: 2, at: expect.any(Number), error: 'try 2', backoffUntil: expect.any(Number) },
    ])
    expect(flaky.failedAttempts.map((a) => a.backoffUntil! - a.at)).toEqual([100, 200])
    expect(flaky.changes.map((c) => c.changes)).toEqual([
      [{ key: 'n', kind: 'changed', before: '1', after: '2' }],
    ])
    const wait = view.steps[2]!
    expect(wait).toMatchObject({ status: 'completed', waitingFor: 'go', output: '{ by: "me" }' })
    expect(wait.completedAt! - wait.suspendedAt!).toBe(5_000)
    expect(view.signals.received).toEqual([
      { name: 'go', step: 'wait', at: wait.completedAt, payload: '{ by: "me" }' },
    ])
    expect(view.steps[3]!.changes[0]!.changes).toEqual([
      { key: 'n', kind: 'removed', before: '2' },
      { key: 'done', kind: 'added', after: 'true' },
    ])
    expect(view.input).toBe('{ x: 1 }')
    expect(view.data).toBe('{ done: true }')
    expect(view.graph.map((n) => n.state)).toEqual(['completed', 'completed', 'completed', 'completed'])
    expect(view.timeline.end).toBeGreaterThanOrEqual(wait.completedAt!)
    expect(runSummary(snapshot.run).error).toBeNull()
  })

  it('shows a corrupt value rather than failing the page', async () => {
    const { engine, storage, clock } = testEngine()
    const flow = createWorkflow('c').step('a', () => {})
    await engine.execute(flow, 1, { id: 'c1' })
    const snapshot = (await storage.loadRun('c1'))!
    snapshot.run.input = '\u0001not devalue'
    expect(runDetailView(defaultSerializer, snapshot, clock.now()).input).toMatch(
      /^\[input cannot be decoded: /,
    )
  })
})

describe('terminal formatting', () => {
  it('makes control characters visible and aligns tables', () => {
    expect(printable('a\u001b[2Jb\tc\nd')).toBe('a\\u001b[2Jb\tc\nd')
    expect(table(['A', 'BB'], [['xxx', 'y\nz']])).toBe('A    BB\nxxx  y ⏎ z')
    expect(formatDuration(850)).toBe('850 ms')
    expect(formatDuration(12_300)).toBe('12.3 s')
    expect(formatDuration(245_000)).toBe('4 min 05 s')
    expect(formatDuration(7_380_000)).toBe('2 h 03 min')
    expect(formatRunList({ runs: [], total: 0, limit: 20, offset: 0 })).toBe('No runs.')
  })
})
