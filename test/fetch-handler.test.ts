/**
 * The Fetch-API handler on a real engine: real `Request` objects in, `Response`s out, and once
 * through a real `node:http` server with `fetch`.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { toNodeListener } from '../examples/http-signals.js'
import {
  createFetchHandler,
  createWorkflow,
  type FetchHandler,
  type FetchHandlerOptions,
  Flux,
  FluxEngine,
  type FluxEngineConfig,
  FluxSilentLogger,
  MemoryStorage,
  type WorkflowContext,
} from '../src/index.js'
import { SqliteStorage } from '../src/sqlite.js'
import { tempDir } from './helpers/sqlite-temp.js'

const ORIGIN = 'http://flux.test'

interface ExpenseInput {
  amount: number
}

function expenseFlow(log: string[] = []) {
  return createWorkflow('expense')
    .input<ExpenseInput>()
    .validate((input) => typeof (input as ExpenseInput | undefined)?.amount === 'number')
    .step('submit', (ctx) => {
      log.push(`submit ${ctx.id}`)
      ctx.data.submitted = ctx.input.amount
    })
    .step('wait', () => Flux.wait('approve'))
    .commit('pay', (ctx: WorkflowContext<ExpenseInput>) => {
      log.push(`pay ${ctx.id}`)
      ctx.data.approvedBy = (ctx.signals.approve as { by: string } | undefined)?.by
    })
}

const quickFlow = createWorkflow('quick')
  .input<{ n: number }>()
  .step('double', (ctx) => {
    ctx.data.doubled = ctx.input.n * 2
  })
  .step('check', (ctx) => {
    if (ctx.input.n < 0) throw Flux.fail('negative')
  })

const hiddenFlow = createWorkflow('hidden').step('wait', () => Flux.wait('approve'))

const engines: FluxEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()))
})

function setup(options: Partial<FetchHandlerOptions> = {}, engine = newEngine()) {
  const log: string[] = []
  const expense = expenseFlow(log)
  const handle = createFetchHandler(engine, { workflows: [expense, quickFlow], ...options })
  return { engine, handle, expense, log }
}

function newEngine(storage: FluxEngineConfig['storage'] = new MemoryStorage()): FluxEngine {
  const engine = new FluxEngine({ storage, logger: new FluxSilentLogger(), recoverOnInit: false })
  engines.push(engine)
  return engine
}

function post(path: string, body?: unknown, headers: Record<string, string> = {}): Request {
  return new Request(`${ORIGIN}${path}`, {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
}

async function call(handle: FetchHandler, request: Request) {
  const response = await handle(request)
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: JSON.parse(text) }
}

describe('fetch handler: webhooks', () => {
  it('starts a run and answers 202 with its id and location', async () => {
    const { engine, handle, expense } = setup()
    const res = await call(handle, post('/workflows/expense/runs', { amount: 12 }))
    expect(res.status).toBe(202)
    expect(res.body).toEqual({ id: expect.any(String) })
    expect(res.headers.get('location')).toBe(`/runs/${res.body.id}`)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    // Settles on the started run (same id: no second run).
    const settled = await engine.execute(expense, { amount: 12 }, { id: res.body.id })
    expect([settled.status, settled.data]).toEqual(['suspended', { submitted: 12 }])
  })

  it('is idempotent: the same Idempotency-Key (or ?id=) answers for one run, never a second', async () => {
    const { engine, handle, expense, log } = setup()
    const headers = { 'Idempotency-Key': 'exp-1' }
    const first = await call(handle, post('/workflows/expense/runs', { amount: 1 }, headers))
    const again = await call(handle, post('/workflows/expense/runs', { amount: 999 }, headers))
    const byQuery = await call(handle, post('/workflows/expense/runs?id=exp-1&wait=true', { amount: 5 }))
    expect([first.status, again.status]).toEqual([202, 202])
    expect([first.body.id, again.body.id, byQuery.body.id]).toEqual(['exp-1', 'exp-1', 'exp-1'])
    expect(byQuery.body).toMatchObject({ status: 'suspended', waitingFor: 'approve', data: { submitted: 1 } })
    await engine.execute(expense, { amount: 1 }, { id: 'exp-1' })
    expect((await engine.list()).map((r) => r.id)).toEqual(['exp-1'])
    expect(log).toEqual(['submit exp-1'])
    const clash = await call(
      handle,
      post('/workflows/expense/runs?id=a', { amount: 1 }, { 'Idempotency-Key': 'b' }),
    )
    expect(clash.status).toBe(400)
    // Another header, as a provider names its delivery id.
    const github = createFetchHandler(engine, {
      workflows: [quickFlow],
      idempotencyHeader: 'X-GitHub-Delivery',
    })
    const delivery = { 'X-GitHub-Delivery': 'gh-1' }
    for (let i = 0; i < 2; i++)
      expect(
        (await call(github, post('/workflows/quick/runs?wait=true', { n: i }, delivery))).body,
      ).toMatchObject({
        id: 'gh-1',
        data: { doubled: 0 },
      })
  })

  it('?wait=true executes and answers 200 with status, data and error', async () => {
    const { handle } = setup()
    const done = await call(handle, post('/workflows/quick/runs?wait=true', { n: 21 }))
    expect(done.status).toBe(200)
    expect(done.body).toEqual({
      id: expect.any(String),
      status: 'completed',
      data: { doubled: 42 },
      error: null,
      waitingFor: null,
      duration: expect.any(Number),
    })
    const failed = await call(handle, post('/workflows/quick/runs?wait=1', { n: -1 }))
    expect(failed.status).toBe(200)
    expect(failed.body).toMatchObject({
      status: 'failed',
      error: { name: 'NonRetryableError', message: 'negative', code: 'NON_RETRYABLE' },
    })
  })

  it('a run id already used by another workflow is a 409, and nothing of that run is shown', async () => {
    const { engine, handle } = setup()
    await engine.execute(hiddenFlow, {}, { id: 'shared' })
    const res = await call(handle, post('/workflows/quick/runs?wait=true&id=shared', { n: 1 }))
    expect(res).toMatchObject({ status: 409, body: { code: 'ID_CONFLICT' } })
    expect(JSON.stringify(res.body)).not.toContain('hidden')
  })

  it('unknown workflow → 404; invalid input → 400 with the message; bad JSON → 400; not JSON → 415', async () => {
    const { engine, handle } = setup()
    expect(await call(handle, post('/workflows/nope/runs', {}))).toMatchObject({
      status: 404,
      body: { error: 'No workflow named "nope"', code: 'NOT_FOUND' },
    })
    // Registered on the engine, but not listed for the handler.
    await engine.execute(hiddenFlow, {})
    expect((await call(handle, post('/workflows/hidden/runs', {}))).status).toBe(404)
    const invalid = await call(handle, post('/workflows/expense/runs', { amount: 'lots' }))
    expect(invalid).toMatchObject({ status: 400, body: { code: 'INVALID_INPUT' } })
    expect(invalid.body.error).toContain('Invalid input')
    const badJson = await call(
      handle,
      new Request(`${ORIGIN}/workflows/expense/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"amount": 1,',
      }),
    )
    expect(badJson).toMatchObject({ status: 400, body: { code: 'INVALID_JSON' } })
    expect(badJson.body.error).toMatch(/^Request body is not valid JSON: /)
    const text = await call(
      handle,
      new Request(`${ORIGIN}/workflows/expense/runs`, { method: 'POST', body: 'amount=1' }),
    )
    expect(text.status).toBe(415)
    expect((await call(handle, post('/workflows/quick/runs?wait=maybe', { n: 1 }))).status).toBe(400)
    // Only the hidden run exists: no refused request created one.
    expect((await engine.list()).map((r) => r.name)).toEqual(['hidden'])
  })
})

describe('fetch handler: signals and state', () => {
  it('a signal resumes a suspended run (?wait=true → 200 with the result)', async () => {
    const { engine, handle, expense, log } = setup()
    const { id } = await engine.execute(expense, { amount: 3 })
    const res = await call(handle, post(`/runs/${id}/signals/approve?wait=true`, { by: 'ada' }))
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id, status: 'completed', data: { submitted: 3, approvedBy: 'ada' } })
    expect(log).toEqual([`submit ${id}`, `pay ${id}`])
  })

  it('without wait: 202 once stored; the run stays suspended until a worker continues it', async () => {
    const { engine, handle, expense, log } = setup()
    const { id } = await engine.execute(expense, { amount: 3 })
    const res = await call(handle, post(`/runs/${id}/signals/approve`, { by: 'grace' }))
    expect(res.status).toBe(202)
    expect(res.body).toEqual({ id, signal: 'approve', status: 'suspended' })
    expect(res.headers.get('location')).toBe(`/runs/${id}`)
    expect((await engine.get(id))!.status).toBe('suspended')
    expect(log).toEqual([`submit ${id}`])
    // The same signal again, before anyone consumed it: a conflict.
    expect(await call(handle, post(`/runs/${id}/signals/approve`, { by: 'x' }))).toMatchObject({
      status: 409,
      body: { code: 'SIGNAL_CONFLICT' },
    })
    expect(await engine.recover()).toEqual([id])
    const state = await engine.get(id)
    expect([state!.status, state!.data]).toEqual(['completed', { submitted: 3, approvedBy: 'grace' }])
  })

  it('wrong signal, duplicate, ended run → 409; unknown run or another workflow’s run → 404', async () => {
    const { engine, handle, expense } = setup()
    const { id } = await engine.execute(expense, { amount: 3 })
    expect(await call(handle, post(`/runs/${id}/signals/reject`, {}))).toMatchObject({
      status: 409,
      body: { code: 'SIGNAL_MISMATCH', error: 'Workflow waiting for signal "approve", received "reject"' },
    })
    expect((await call(handle, post(`/runs/${id}/signals/approve?wait=true`))).body.status).toBe('completed')
    expect(await call(handle, post(`/runs/${id}/signals/approve`))).toMatchObject({
      status: 409,
      body: { code: 'WORKFLOW_NOT_SUSPENDED', error: 'Workflow is not suspended (status: completed)' },
    })
    expect(await call(handle, post('/runs/missing/signals/approve', {}))).toMatchObject({
      status: 404,
      body: { code: 'WORKFLOW_NOT_FOUND' },
    })
    const hidden = await engine.execute(hiddenFlow, {})
    expect((await call(handle, post(`/runs/${hidden.id}/signals/approve`, {}))).status).toBe(404)
    expect((await call(handle, new Request(`${ORIGIN}/runs/${hidden.id}`))).status).toBe(404)
    expect((await engine.get(hidden.id))!.status).toBe('suspended')
  })

  it('GET /runs/:id returns the state as JSON, whatever the data holds', async () => {
    const engine = newEngine()
    const odd = createWorkflow('odd').step('fill', (ctx) => {
      const node: Record<string, unknown> = { name: 'loop' }
      node.self = node
      ctx.data.big = 2n ** 70n
      ctx.data.when = new Date('2024-01-02T03:04:05.000Z')
      ctx.data.tags = new Set(['a', 'b'])
      ctx.data.map = new Map([['k', 1]])
      ctx.data.bytes = new Uint8Array([1, 2, 3])
      ctx.data.nan = Number.NaN
      ctx.data.node = node
      ctx.data.url = new URL('https://example.com/x')
    })
    const handle = createFetchHandler(engine, { workflows: [odd] })
    const { id } = await engine.execute(odd, { at: new Date(0) })
    const res = await call(handle, new Request(`${ORIGIN}/runs/${id}`))
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      id,
      name: 'odd',
      status: 'completed',
      input: { at: '1970-01-01T00:00:00.000Z' },
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      history: [{ name: 'fill', status: 'completed', attempts: 1 }],
      data: {
        big: '1180591620717411303424',
        when: '2024-01-02T03:04:05.000Z',
        tags: ['a', 'b'],
        map: [['k', 1]],
        bytes: 'AQID',
        nan: null,
        node: { name: 'loop', self: '[Circular]' },
        url: 'https://example.com/x',
      },
    })
    expect((await call(handle, new Request(`${ORIGIN}/runs/nope`))).status).toBe(404)
  })

  it('an id with "/", "%", spaces and non-ASCII characters round-trips through the path', async () => {
    const { engine, handle, expense } = setup()
    const id = 'tenant/7 %2F 100%?#ü'
    const started = await call(
      handle,
      post(`/workflows/expense/runs?id=${encodeURIComponent(id)}`, { amount: 7 }),
    )
    expect(started.body.id).toBe(id)
    await engine.execute(expense, { amount: 7 }, { id })
    const path = `/runs/${encodeURIComponent(id)}`
    expect(started.headers.get('location')).toBe(path)
    expect((await call(handle, new Request(`${ORIGIN}${path}`))).body).toMatchObject({
      id,
      status: 'suspended',
    })
    const done = await call(
      handle,
      post(`${path}/signals/${encodeURIComponent('approve')}?wait`, { by: 'z' }),
    )
    expect(done.body).toMatchObject({ id, status: 'completed' })
    expect((await call(handle, new Request(`${ORIGIN}/runs/%E0%A4%A`))).status).toBe(400)
  })
})

describe('fetch handler: protocol and security', () => {
  it('wrong method → 405 with Allow; unknown routes and paths outside basePath → 404', async () => {
    const { handle } = setup({ basePath: '/api/flux/' })
    const get = await call(handle, new Request(`${ORIGIN}/api/flux/workflows/expense/runs`))
    expect(get).toMatchObject({ status: 405, body: { code: 'METHOD_NOT_ALLOWED' } })
    expect(get.headers.get('allow')).toBe('POST')
    const del = await call(handle, new Request(`${ORIGIN}/api/flux/runs/x`, { method: 'DELETE' }))
    expect([del.status, del.headers.get('allow')]).toEqual([405, 'GET'])
    for (const path of [
      '/workflows/expense/runs',
      '/api/flux',
      '/api/fluxx/runs/x',
      '/api/flux/runs/x/y',
      '/api/flux/runs//signals/a',
    ])
      expect((await call(handle, post(path, {}))).status, path).toBe(404)
    const ok = await call(handle, post('/api/flux/workflows/quick/runs?wait=true', { n: 1 }))
    expect(ok.body.status).toBe('completed')
  })

  it('a body over maxBodyBytes → 413, streamed or declared, without reading it all', async () => {
    const { handle, engine } = setup({ maxBodyBytes: 1024 })
    let pulled = 0
    let cancelled = false
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        controller.enqueue(new Uint8Array(256).fill(32))
      },
      cancel() {
        cancelled = true
      },
    })
    const streamed = await call(
      handle,
      new Request(`${ORIGIN}/workflows/quick/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: endless,
        duplex: 'half',
      }),
    )
    expect(streamed).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } })
    expect(pulled).toBeLessThan(10)
    await new Promise((r) => setImmediate(r))
    expect(cancelled).toBe(true)
    const declared = await call(handle, post('/runs/x/signals/a', { pad: 'x'.repeat(2000) }))
    expect(declared.status).toBe(413)
    // At the limit is fine.
    const fits = await call(handle, post('/workflows/quick/runs?wait=true', { n: 2, pad: 'x'.repeat(1000) }))
    expect(fits.body.status).toBe('completed')
    expect(await engine.list()).toHaveLength(1)
  })

  it('authorize: false → 401 (run or not), sees the route and the raw body; a throw → 500', async () => {
    const seen: unknown[] = []
    const errors: unknown[] = []
    const { engine, handle, expense } = setup({
      authorize: (request, { route, body }) => {
        seen.push({ route, body: new TextDecoder().decode(body) })
        if (request.headers.get('x-explode')) throw new Error('auth backend down')
        return request.headers.get('authorization') === 'Bearer s3cret'
      },
      onError: (error) => errors.push(error),
    })
    const { id } = await engine.execute(expense, { amount: 1 })
    for (const request of [
      post(`/runs/${id}/signals/approve`, { by: 'mallory' }),
      post('/runs/missing/signals/approve', {}),
      new Request(`${ORIGIN}/runs/${id}`),
      post('/workflows/expense/runs', { amount: 1 }),
      post('/workflows/nope/runs', 'not an object'),
    ])
      expect(await call(handle, request)).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } })
    expect((await engine.get(id))!.status).toBe('suspended')
    expect(seen.slice(0, 3)).toEqual([
      {
        route: { action: 'signal', runId: id, signal: 'approve', workflow: 'expense' },
        body: '{"by":"mallory"}',
      },
      { route: { action: 'signal', runId: 'missing', signal: 'approve' }, body: '{}' },
      { route: { action: 'get', runId: id, workflow: 'expense' }, body: '' },
    ])
    const auth = { authorization: 'Bearer s3cret' }
    const ok = await call(handle, post(`/runs/${id}/signals/approve?wait=true`, { by: 'ada' }, auth))
    expect(ok.body.status).toBe('completed')
    const boom = await call(handle, post('/workflows/quick/runs', { n: 1 }, { 'x-explode': '1' }))
    expect(boom).toEqual({
      status: 500,
      headers: expect.anything(),
      body: { error: 'Authorization failed', code: 'INTERNAL' },
    })
    expect(errors).toEqual([new Error('auth backend down')])
  })

  it('never throws: a closed engine answers 503, and the cause goes to onError', async () => {
    const errors: unknown[] = []
    const { engine, handle } = setup({ onError: (error) => errors.push(error) })
    await engine.close()
    const res = await handle(post('/workflows/quick/runs', { n: 1 }))
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ code: 'ENGINE_CLOSED' })
    expect(errors).toHaveLength(1)
  })

  it('refuses bad options when it is built', () => {
    const engine = newEngine()
    expect(() => createFetchHandler(engine, { workflows: [quickFlow, quickFlow] })).toThrow('listed twice')
    expect(() => createFetchHandler(engine, { workflows: [], maxBodyBytes: -1 })).toThrow('maxBodyBytes')
    expect(() => createFetchHandler(engine, { workflows: [], basePath: '/x?y' })).toThrow('path only')
    expect(() => createFetchHandler(engine, { workflows: [], idempotencyHeader: 'a b' })).toThrow(
      'header name',
    )
  })
})

describe('fetch handler: on SQLite', () => {
  const temp = tempDir('fluxflow-fetch-handler')
  afterAll(() => temp.remove())

  it('a webhook, a stored signal and a worker pass complete the run in the file', async () => {
    const engine = newEngine(new SqliteStorage({ path: temp.file() }))
    const { handle, expense } = setup({}, engine)
    // The first request reads the store directly: the handler initialises it first.
    expect((await call(handle, new Request(`${ORIGIN}/runs/nothing-yet`))).status).toBe(404)
    const key = { 'Idempotency-Key': 'sq/1' }
    expect(
      (await call(handle, post('/workflows/expense/runs?wait=true', { amount: 9 }, key))).body,
    ).toMatchObject({
      id: 'sq/1',
      status: 'suspended',
      waitingFor: 'approve',
    })
    expect((await call(handle, post('/runs/sq%2F1/signals/approve', { by: 'sql' }))).status).toBe(202)
    expect(await engine.recover()).toEqual(['sq/1'])
    const state = await call(handle, new Request(`${ORIGIN}/runs/sq%2F1`))
    expect(state.body).toMatchObject({ status: 'completed', data: { submitted: 9, approvedBy: 'sql' } })
    await engine.execute(expense, { amount: 9 }, { id: 'sq/1' })
    expect(await engine.list()).toHaveLength(1)
  })
})

describe('fetch handler: on a node:http server', () => {
  it('serves webhooks, signals and state to fetch', async () => {
    const { handle, engine } = setup({ maxBodyBytes: 4096 })
    const server = createServer(toNodeListener(handle))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const json = { 'content-type': 'application/json' }
      const started = await fetch(`${url}/workflows/expense/runs`, {
        method: 'POST',
        headers: { ...json, 'Idempotency-Key': 'node/1 %' },
        body: JSON.stringify({ amount: 4 }),
      })
      expect([started.status, await started.json()]).toEqual([202, { id: 'node/1 %' }])
      const location = started.headers.get('location')!
      await engine.execute(expenseFlow(), { amount: 4 }, { id: 'node/1 %' })
      const state = await fetch(`${url}${location}`)
      expect(await state.json()).toMatchObject({ id: 'node/1 %', status: 'suspended', waitingFor: 'approve' })
      const signalled = await fetch(`${url}${location}/signals/approve?wait=true`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ by: 'node' }),
      })
      expect(await signalled.json()).toMatchObject({ status: 'completed', data: { approvedBy: 'node' } })
      // Streamed (no Content-Length): refused while reading, and the 413 still reaches the client.
      let sent = 0
      const upload = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 1024 * 1024) return controller.close()
          sent += 16 * 1024
          controller.enqueue(new Uint8Array(16 * 1024).fill(32))
        },
      })
      const big = await fetch(`${url}${location}/signals/approve`, {
        method: 'POST',
        headers: json,
        body: upload,
        duplex: 'half',
      } as RequestInit)
      expect(big.status).toBe(413)
      expect(await big.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
      const wrong = await fetch(`${url}${location}`, { method: 'PUT' })
      expect([wrong.status, wrong.headers.get('allow')]).toEqual([405, 'GET'])
    } finally {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

describe('fetch handler and viewer: one status table', () => {
  it('answers every library error with the same status in both', async () => {
    const { httpStatusOf } = await import('../src/cli/exit-codes.js')
    const { httpStatusOfFluxError } = await import('../src/http/status.js')
    const errors = await import('../src/errors.js')
    const expected: [InstanceType<typeof errors.FluxError>, number][] = [
      [new errors.InvalidInputError('order', [{ message: 'total must be positive' }]), 400],
      [new errors.SerializationError('data.x', 'functions cannot be stored'), 400],
      [new errors.InvalidStepError('Step not found: ship'), 400],
      [new errors.WorkflowNotFoundError('r1'), 404],
      [new errors.SignalMismatchError('approve', 'reject'), 409],
      [new errors.SignalConflictError('r1', 'approve'), 409],
      [new errors.WorkflowNotSuspendedError('completed'), 409],
      [new errors.WorkflowCancelledError('by an operator'), 409],
      [new errors.InvalidStateTransitionError('completed', 'running'), 409],
      [new errors.FluxDefinitionChangedError('order', ['ship']), 409],
      [new errors.LeaseLostError('r1'), 409],
      [new errors.StorageError('database is locked'), 503],
      [new errors.EngineClosedError(), 503],
      [new errors.FluxDefinitionError('no steps'), 500],
      [new errors.StepTimeoutError(50), 500],
      [new errors.FluxError('Workflow r1 is being run by w-2; wait for it or cancel it first'), 409],
      [new errors.FluxError('Run r1 has a corrupt input', 'STORAGE'), 503],
    ]
    for (const [error, status] of expected) {
      expect([error.name, httpStatusOfFluxError(error)]).toEqual([error.name, status])
      expect([error.name, httpStatusOf(error)]).toEqual([error.name, status])
    }
    expect(httpStatusOf(new Error('bug'))).toBe(500)
  })
})
