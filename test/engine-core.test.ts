import { describe, expect, it } from 'vitest'
import {
  createWorkflow,
  FluxConsoleLogger,
  FluxEngine,
  type FluxTraceEvent,
  InvalidInputError,
  JsonFileTraceSink,
  MemoryStorage,
  SerializationError,
} from '../src/index.js'
import { RecordingLogger, testEngine } from './helpers/engine.js'

describe('execute', () => {
  it('runs the steps in order and returns data, history and duration', async () => {
    const { engine } = testEngine()
    const seen: string[] = []
    const flow = createWorkflow('order')
      .input<{ orderId: string }>()
      .step('fetch', (ctx) => {
        seen.push('fetch')
        ctx.data.order = { id: ctx.input.orderId, paid: true }
      })
      .step('validate', async (ctx) => {
        seen.push('validate')
        if (!ctx.data.order.paid) throw new Error('Unpaid order')
      })
      .commit('fulfill', (ctx) => {
        seen.push('fulfill')
        ctx.data.shipped = true
      })
    const result = await engine.execute(flow, { orderId: '123' })
    expect(result.status).toBe('completed')
    expect(result.data).toEqual({ order: { id: '123', paid: true }, shipped: true })
    expect(seen).toEqual(['fetch', 'validate', 'fulfill'])
    expect(result.history.map((h) => [h.name, h.status, h.attempts, h.retries])).toEqual([
      ['fetch', 'completed', 1, 0],
      ['validate', 'completed', 1, 0],
      ['fulfill', 'completed', 1, 0],
    ])
    expect(typeof result.duration).toBe('number')
    expect(result.error).toBeUndefined()
    expect(typeof result.id).toBe('string')
  })

  it('gives each step the documented context', async () => {
    const { engine } = testEngine()
    const input = { nested: { n: 1 } }
    let captured: Record<string, unknown> = {}
    const flow = createWorkflow('ctx')
      .step('first', (ctx) => {
        ctx.data.x = 1
      })
      .step('second', (ctx) => {
        captured = {
          id: ctx.id,
          name: ctx.name,
          status: ctx.status,
          currentStep: ctx.currentStep,
          attempt: ctx.attempt,
          key: ctx.idempotencyKey,
          aborted: ctx.signal.aborted,
          history: ctx.history.map((h) => h.status),
          sameInput: ctx.input === input,
          input: JSON.parse(JSON.stringify(ctx.input)),
        }
        ;(ctx.input as typeof input).nested.n = 99
      })
    const result = await engine.execute(flow, input)
    expect(captured).toEqual({
      id: result.id,
      name: 'ctx',
      status: 'running',
      currentStep: 1,
      attempt: 1,
      key: `${result.id}:second`,
      aborted: false,
      history: ['completed', 'running'],
      sameInput: false,
      input: { nested: { n: 1 } },
    })
    expect(input.nested.n).toBe(1)
  })

  it('rejects invalid input with "Invalid input" and creates no run', async () => {
    const { engine, storage } = testEngine()
    const guarded = createWorkflow('guarded')
      .validate((i): i is { n: number } => typeof (i as { n?: unknown }).n === 'number')
      .step('a', () => {})
    await expect(engine.execute(guarded, { n: 'x' })).rejects.toThrow(/Invalid input/)
    await expect(engine.execute(guarded, { n: 'x' })).rejects.toBeInstanceOf(InvalidInputError)
    const schema = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: (v: unknown) =>
          typeof v === 'object' && v !== null && 'email' in v
            ? { value: v as { email: string } }
            : { issues: [{ message: 'email is required', path: ['email'] }] },
      },
    }
    const withSchema = createWorkflow('schema')
      .schema(schema)
      .step('a', () => {})
    await expect(engine.execute(withSchema, {} as never)).rejects.toThrow(
      'Invalid input for workflow "schema": email: email is required',
    )
    expect((await engine.execute(withSchema, { email: 'a@b' })).status).toBe('completed')
    expect((await storage.listRuns({})).total).toBe(1)
  })

  it('rejects input it cannot store, naming the path', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('w').step('a', () => {})
    await expect(engine.execute(flow, { cb: () => 1 })).rejects.toThrow(
      /input\.cb: functions cannot be stored/,
    )
  })

  it('is idempotent on options.id: a second execute returns the first run', async () => {
    const { engine } = testEngine()
    let runs = 0
    const flow = createWorkflow('once').commit('charge', (ctx) => {
      runs++
      ctx.data.charged = true
    })
    const a = await engine.execute(flow, {}, { id: 'order-1' })
    const b = await engine.execute(flow, {}, { id: 'order-1' })
    expect(a.id).toBe('order-1')
    expect(b.id).toBe('order-1')
    expect(b.status).toBe('completed')
    expect(b.data).toEqual({ charged: true })
    expect(runs).toBe(1)
  })

  it('concurrent executes with the same id start one run and both see its result', async () => {
    const { engine } = testEngine()
    let runs = 0
    const flow = createWorkflow('once').step('slow', async (ctx) => {
      runs++
      await Promise.resolve()
      ctx.data.done = true
    })
    const [a, b] = await Promise.all([
      engine.execute(flow, {}, { id: 'x' }),
      engine.execute(flow, {}, { id: 'x' }),
    ])
    expect(runs).toBe(1)
    expect([a.status, b.status]).toEqual(['completed', 'completed'])
    expect(b.data).toEqual({ done: true })
  })

  it('start() returns the id at once and the run finishes in the background', async () => {
    const { engine } = testEngine()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const flow = createWorkflow('bg').step('wait', async () => {
      await gate
    })
    const id = await engine.start(flow, {})
    expect((await engine.get(id))!.status).toBe('running')
    release()
    const result = await engine.execute(flow, {}, { id })
    expect(result.status).toBe('completed')
  })

  it('get() returns copies and null for unknown ids', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('w').step('a', (ctx) => {
      ctx.data.list = [1]
    })
    const { id } = await engine.execute(flow, { q: 1 })
    const first = await engine.get(id)
    first!.data.list.push(2)
    first!.history[0]!.status = 'failed'
    const second = await engine.get(id)
    expect(second!.data).toEqual({ list: [1] })
    expect(second!.history[0]!.status).toBe('completed')
    expect(second!.input).toEqual({ q: 1 })
    expect(second!.createdAt).toBeInstanceOf(Date)
    expect(await engine.get('nope')).toBeNull()
  })

  it('list() is newest first and pages with offset alone, limit alone, or both', async () => {
    const { engine, clock } = testEngine()
    const flow = createWorkflow('w').step('a', () => {})
    const other = createWorkflow('v').step('a', () => {})
    const ids: string[] = []
    for (let i = 0; i < 6; i++) {
      ids.push((await engine.execute(i % 2 ? other : flow, {}, { id: `r${i}` })).id)
      await clock.advance(10)
    }
    const newest = [...ids].reverse()
    expect((await engine.list()).map((s) => s.id)).toEqual(newest)
    expect((await engine.list({ offset: 4 })).map((s) => s.id)).toEqual(newest.slice(4))
    expect((await engine.list({ limit: 2 })).map((s) => s.id)).toEqual(newest.slice(0, 2))
    expect((await engine.list({ limit: 2, offset: 3 })).map((s) => s.id)).toEqual(newest.slice(3, 5))
    expect((await engine.list({ name: 'v' })).map((s) => s.id)).toEqual(['r5', 'r3', 'r1'])
    expect((await engine.list({ status: 'completed', offset: 5 })).map((s) => s.id)).toEqual(['r0'])
  })

  it('fails the step with the key path of an unserializable value, and keeps the last good data', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('bad')
      .step('ok', (ctx) => {
        ctx.data.user = { name: 'ada' }
      })
      .step('oops', (ctx) => {
        ctx.data.user.save = () => {}
      })
    const result = await engine.execute(flow, {})
    expect(result.status).toBe('failed')
    expect(result.error).toBeInstanceOf(SerializationError)
    expect(result.error!.message).toContain('data.user.save')
    expect(result.history[1]!.error).toContain('data.user.save')
    expect(result.history[1]!.attempts).toBe(1)
    expect(result.data).toEqual({ user: { name: 'ada' } })
    const stored = await engine.get(result.id)
    expect(stored!.data).toEqual({ user: { name: 'ada' } })
  })

  it('stores only what a step touched, and deletions', async () => {
    const { engine, storage } = testEngine()
    const flow = createWorkflow('delta')
      .step('a', (ctx) => {
        ctx.data.big = 'x'.repeat(10_000)
        ctx.data.tmp = 1
      })
      .step('b', (ctx) => {
        ctx.data.small = 1
        delete ctx.data.tmp
      })
    const { id, data } = await engine.execute(flow, {})
    expect(data).toEqual({ big: 'x'.repeat(10_000), small: 1 })
    const snap = await storage.loadRun(id)
    const sizes = snap!.checkpoints.map((c) => c.body.length)
    expect(Math.max(...sizes.slice(1))).toBeLessThan(1000)
    expect((await engine.get(id))!.data).toEqual({ big: 'x'.repeat(10_000), small: 1 })
  })

  it('keeps data a handler replaces wholesale', async () => {
    const { engine } = testEngine()
    const flow = createWorkflow('replace')
      .step('a', (ctx) => {
        ctx.data.old = 1
      })
      .step('b', (ctx) => {
        ctx.data = { fresh: true }
      })
    const { id, data } = await engine.execute(flow, {})
    expect(data).toEqual({ fresh: true })
    expect((await engine.get(id))!.data).toEqual({ fresh: true })
  })
})

describe('hooks, logger and trace', () => {
  it('calls hooks with the origin signatures', async () => {
    const calls: string[] = []
    const { engine } = testEngine({
      on: {
        stepStart: (step, ctx) => calls.push(`start:${step}:${ctx.currentStep}`),
        stepComplete: (step, _ctx, result) => calls.push(`complete:${step}:${result.success}`),
        stepError: (step, _ctx, error) => calls.push(`error:${step}:${error.message}`),
        workflowComplete: (ctx) => calls.push(`done:${ctx.name}`),
        workflowError: (ctx, error) => calls.push(`failed:${ctx.name}:${error.message}`),
      },
    })
    await engine.execute(
      createWorkflow('ok')
        .step('a', () => {})
        .step('b', () => {}),
      {},
    )
    await engine.execute(
      createWorkflow('bad').step(
        'x',
        () => {
          throw new Error('nope')
        },
        { retries: 0 },
      ),
      {},
    )
    expect(calls).toEqual([
      'start:a:0',
      'complete:a:true',
      'start:b:1',
      'complete:b:true',
      'done:ok',
      'start:x:0',
      'error:x:nope',
      'failed:bad:nope',
    ])
  })

  it('a throwing hook or trace sink changes nothing and is logged as a warning', async () => {
    const logger = new RecordingLogger()
    const { engine } = testEngine({
      logger,
      on: {
        stepStart: () => {
          throw new Error('hook boom')
        },
        workflowComplete: async () => {
          throw new Error('async hook boom')
        },
      },
      trace: {
        emit: () => {
          throw new Error('sink boom')
        },
      },
    })
    const result = await engine.execute(
      createWorkflow('w').step('a', (ctx) => {
        ctx.data.ok = true
      }),
      {},
    )
    await new Promise((r) => setImmediate(r))
    expect(result.status).toBe('completed')
    expect(result.data).toEqual({ ok: true })
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => l.message)
    expect(warnings.some((w) => w.includes('hook boom'))).toBe(true)
    expect(warnings.some((w) => w.includes('async hook boom'))).toBe(true)
    expect(warnings.some((w) => w.includes('sink boom'))).toBe(true)

    const rejecting = testEngine({ logger, trace: { emit: () => Promise.reject(new Error('async sink')) } })
    expect(
      (
        await rejecting.engine.execute(
          createWorkflow('w').step('a', () => {}),
          {},
        )
      ).status,
    ).toBe('completed')
  })

  it('emits trace events with ids, names, step fields and attempts', async () => {
    const events: FluxTraceEvent[] = []
    const { engine } = testEngine({ trace: { emit: (e) => void events.push(e) } })
    let first = true
    const flow = createWorkflow('traced')
      .step(
        'a',
        () => {
          if (first) {
            first = false
            throw new Error('flaky')
          }
        },
        { retries: 1, backoff: { initial: 0 } },
      )
      .step('skip', () => {}, { when: () => false })
    const { id } = await engine.execute(flow, { in: 1 })
    expect(events.map((e) => e.type)).toEqual([
      'workflow:start',
      'step:start',
      'step:retry',
      'step:start',
      'step:complete',
      'step:skipped',
      'workflow:complete',
    ])
    for (const e of events) {
      expect(e.workflowId).toBe(id)
      expect(e.workflowName).toBe('traced')
      expect(typeof e.timestamp).toBe('number')
    }
    const starts = events.filter((e) => e.type === 'step:start')
    expect(starts.map((e) => [e.stepName, e.stepIndex, e.attempt])).toEqual([
      ['a', 0, 1],
      ['a', 0, 2],
    ])
    expect(events[0]!.input).toEqual({ in: 1 })
    expect(events.find((e) => e.type === 'step:retry')!.error).toBe('flaky')
  })

  it('the console logger writes "<prefix> <message>" with its arguments', () => {
    const lines: unknown[][] = []
    const original = console.info
    console.info = (...args: unknown[]) => void lines.push(args)
    try {
      new FluxConsoleLogger().info('hello', { a: 1 })
      new FluxConsoleLogger('[Orders]').info('there')
    } finally {
      console.info = original
    }
    expect(lines).toEqual([['[Flux] hello', { a: 1 }], ['[Orders] there']])
  })

  it('the engine really logs', async () => {
    const logger = new RecordingLogger()
    const { engine } = testEngine({ logger })
    await engine.execute(
      createWorkflow('w').step(
        'a',
        () => {
          throw new Error('x')
        },
        { retries: 1, backoff: { initial: 0 } },
      ),
      {},
    )
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('retrying'))).toBe(true)
    expect(logger.lines.some((l) => l.level === 'info' && l.message.includes('ended failed'))).toBe(true)
  })
})

describe('JsonFileTraceSink', () => {
  it('writes NDJSON, creates missing folders, and the line is in the file when emit resolves', async () => {
    const { mkdtemp, readFile } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'flux-trace-'))
    const path = join(dir, 'deep', 'er', 'trace.ndjson')
    const sink = new JsonFileTraceSink({ path, reset: true })
    await sink.emit({
      type: 'workflow:start',
      timestamp: 1,
      workflowId: 'a',
      workflowName: 'w',
      input: { big: 1n, m: new Map([[1, 2]]) },
    })
    expect(
      (await readFile(path, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).type),
    ).toEqual(['workflow:start'])
    const engine = new FluxEngine({ storage: new MemoryStorage(), trace: sink })
    await engine.execute(
      createWorkflow('w').step('a', () => {}),
      {},
    )
    const lines = (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines.map((l) => l.type)).toEqual([
      'workflow:start',
      'workflow:start',
      'step:start',
      'step:complete',
      'workflow:complete',
    ])
    await sink.close()
    const again = new JsonFileTraceSink({ path, reset: true })
    await again.emit({ type: 'workflow:start', timestamp: 2, workflowId: 'b', workflowName: 'w' })
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(1)
    await again.close()
    await engine.close()
  })
})
