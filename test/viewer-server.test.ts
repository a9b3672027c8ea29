/**
 * The `flux dev` server over HTTP, on a SQLite database with runs in every status: the API's
 * view models, actions and their refusals, live updates (SSE), and the security rules —
 * Content-Security-Policy, path traversal, Host and Origin checks, tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DevSession, startDev } from '../src/cli/dev-command.js'
import { CliError } from '../src/cli/exit-codes.js'
import { openStore } from '../src/cli/open-store.js'
import { startViewerServer } from '../src/cli/server.js'
import { StoreSource } from '../src/cli/source.js'
import type { RunDetailView, RunListView } from '../src/cli/view-model.js'
import { SqliteStorage } from '../src/sqlite.js'
import { tempDir } from './helpers/sqlite-temp.js'
import { buildViewerFixture, IDS, type ViewerFixture } from './helpers/viewer-fixtures.js'
import { openEvents, postJson, raw } from './helpers/viewer-http.js'

const io = { stdout: () => {}, stderr: () => {}, env: {} }
const dir = tempDir('fluxflow-viewer-server')
const path = dir.file('flux.db')
let fixture: ViewerFixture
let readOnly: DevSession
let acting: DevSession

beforeAll(async () => {
  fixture = await buildViewerFixture(() => new SqliteStorage({ path }))
  readOnly = await startDev(['--db', path, '--port', '0', '--poll', '100'], io)
  acting = await startDev(['--db', path, '--port', '0', '--poll', '100', '--allow-actions'], io)
})

afterAll(async () => {
  await readOnly?.close()
  await acting?.close()
  await fixture?.close()
  dir.remove()
})

const json = async <T>(url: string, p: string): Promise<T> => {
  const res = await raw(url, p)
  expect(res.status, res.body).toBe(200)
  return JSON.parse(res.body) as T
}

describe('static page and security headers', () => {
  it('serves the page under a CSP that forbids inline script, with no inline script in it', async () => {
    const res = await raw(readOnly.url, '/')
    expect(res.status).toBe(200)
    const csp = String(res.headers['content-security-policy'])
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toContain('unsafe-eval')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['x-frame-options']).toBe('DENY')
    expect(res.body).toContain('<script type="module" src="app.js"></script>')
    // Every <script> has a src: nothing inline.
    expect(res.body.match(/<script(?![^>]*\ssrc=)[^>]*>/g)).toBeNull()
    // The page never parses data as HTML (nor evaluates strings), in any of its modules.
    const modules = [...res.body.matchAll(/(?:src|href)="([a-z]+\.js)"/g)].map((m) => m[1]!)
    expect(modules).toEqual([
      'app.js',
      'dom.js',
      'state.js',
      'list.js',
      'graph.js',
      'panels.js',
      'actions.js',
      'run.js',
    ])
    for (const name of modules) {
      const js = await raw(readOnly.url, `/${name}`)
      expect(js.status, name).toBe(200)
      expect(js.headers['content-type']).toContain('text/javascript')
      expect(js.body, name).not.toMatch(
        /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|createContextualFragment|eval\(|new Function/,
      )
    }
    expect((await raw(readOnly.url, '/style.css')).headers['content-type']).toContain('text/css')
    // Revalidated on reload: unchanged files cost a 304.
    const etag = String((await raw(readOnly.url, '/app.js')).headers.etag)
    const again = await raw(readOnly.url, '/app.js', { headers: { 'If-None-Match': etag } })
    expect(again.status).toBe(304)
    expect(again.body).toBe('')
    const head = await raw(readOnly.url, '/app.js', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
  })

  it('refuses path traversal and serves nothing but the page', async () => {
    const attempts = [
      '/../package.json',
      '/%2e%2e/package.json',
      '/..%2fpackage.json',
      '/%2e%2e%2fpackage.json',
      '/.%2e/.%2e/package.json',
      '/app.js/..%2f..%2fpackage.json',
      '/..%5c..%5cpackage.json',
      '/viewer/../src/cli/server.ts',
      '/%2e%2e%2fsrc%2fcli%2fserver.ts',
      '/index.html%00.css',
      '/package.json',
      '/.git/config',
      '//etc/passwd',
    ]
    for (const attempt of attempts) {
      const res = await raw(readOnly.url, attempt)
      expect([400, 404], `${attempt} → ${res.status}`).toContain(res.status)
      expect(res.body).not.toContain('"name": "fluxflow"')
      expect(res.body).not.toContain('startViewerServer')
      expect(res.body).not.toContain('root:')
    }
  })

  it('answers only to a loopback Host (no DNS rebinding)', async () => {
    const port = new URL(readOnly.url).port
    expect((await raw(readOnly.url, '/api/info', { headers: { Host: `localhost:${port}` } })).status).toBe(
      200,
    )
    const evil = await raw(readOnly.url, '/api/runs', { headers: { Host: `evil.example:${port}` } })
    expect(evil.status).toBe(421)
    expect(evil.body).not.toContain(IDS.completed)
  })
})

describe('API', () => {
  it('lists runs newest first with filters, search by id and paging', async () => {
    const all = await json<RunListView>(readOnly.url, '/api/runs')
    expect(all.total).toBe(12)
    expect(all.runs[0]!.id).toBe(IDS.running)
    const failed = await json<RunListView>(readOnly.url, '/api/runs?status=failed')
    expect(failed.runs.map((r) => r.id).sort()).toEqual([IDS.failed, IDS.hostile].sort())
    const two = await json<RunListView>(readOnly.url, '/api/runs?status=suspended,pending&workflow=approval')
    expect(two.runs.map((r) => r.id).sort()).toEqual([IDS.suspended, IDS.toCancel, IDS.toSignal].sort())
    expect(two.runs[0]!.waitingFor).toBe('approved')
    const search = await json<RunListView>(readOnly.url, '/api/runs?q=order-')
    expect(search.total).toBe(3)
    const page = await json<RunListView>(readOnly.url, '/api/runs?limit=5&offset=10')
    expect(page).toMatchObject({ total: 12, limit: 5, offset: 10 })
    expect(page.runs).toHaveLength(2)
    const future = new Date(Date.now() + 3_600_000).toISOString()
    expect((await json<RunListView>(readOnly.url, `/api/runs?from=${future}`)).total).toBe(0)
    expect((await json<RunListView>(readOnly.url, `/api/runs?to=${future}`)).total).toBe(12)
    expect(await json<string[]>(readOnly.url, '/api/workflows')).toEqual(
      expect.arrayContaining(['approval', 'checkout', 'import-batch', 'invoice', 'nightly-report']),
    )
  })

  it('says what is wrong with a query', async () => {
    const bad = await raw(readOnly.url, '/api/runs?status=bogus')
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.body).error).toContain('Unknown status "bogus"')
    expect((await raw(readOnly.url, '/api/runs?limit=100000')).status).toBe(400)
    expect((await raw(readOnly.url, '/api/runs?from=yesterday-ish')).status).toBe(400)
    const missing = await raw(readOnly.url, `/api/runs/${encodeURIComponent('no/such run')}`)
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.body).error).toBe('No run with id "no/such run"')
    expect((await raw(readOnly.url, '/api/nope')).status).toBe(404)
  })

  it('shows a run as a timeline with attempts, backoff waits, compensations and data diffs', async () => {
    const view = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.rolledBack}`)
    expect(view.run.status).toBe('rolled_back')
    expect(view.steps.map((s) => [s.name, s.kind, s.status])).toEqual([
      ['validate', 'step', 'completed'],
      ['reserve-stock', 'step', 'compensated'],
      ['charge-card', 'commit', 'completed'],
      ['gift-wrap', 'step', 'skipped'],
      ['ship', 'step', 'failed'],
    ])
    const ship = view.steps[4]!
    expect(ship.attempts).toBe(3)
    // Backoffs of 15 and 30 ms; the checkpoint recording each may be stamped a millisecond later.
    expect(ship.failedAttempts.map((a) => [a.attempt, a.error, a.backoffUntil === null])).toEqual([
      [1, 'carrier API down', false],
      [2, 'carrier API down', false],
      [3, 'carrier API down', true],
    ])
    const waits = ship.failedAttempts.slice(0, 2).map((a) => a.backoffUntil! - a.at)
    expect(waits[0]).toBeGreaterThanOrEqual(14)
    expect(waits[0]).toBeLessThanOrEqual(15)
    expect(waits[1]).toBeGreaterThanOrEqual(29)
    expect(waits[1]).toBeLessThanOrEqual(30)
    expect(view.steps[1]!.compensation?.compensatedAt).toBeTypeOf('number')
    expect(view.steps[1]!.compensation?.startedAt).toBeTypeOf('number')
    expect(view.graph.map((n) => n.state)).toEqual([
      'completed',
      'compensated',
      'completed',
      'skipped',
      'failed',
    ])
    expect(view.error).toMatchObject({ name: 'Error', message: 'carrier API down' })
    expect(view.error?.stack).toContain('carrier API down')
    expect(view.input).toBe('{ failShip: true }')
    // Data before/after each checkpoint: added, changed (the compensation), removed never.
    const validate = view.checkpoints.find((c) =>
      c.steps.some((s) => s.name === 'validate' && s.status === 'completed'),
    )!
    expect(validate.changes.map((c) => [c.key, c.kind])).toEqual([
      ['items', 'added'],
      ['placedAt', 'added'],
      ['tags', 'added'],
    ])
    expect(validate.changes[0]!.after).toBe('Map(2) { "sku-1" => 2, "sku-2" => 1 }')
    expect(validate.changes[1]!.after).toBe('Date(2026-01-02T03:04:05.000Z)')
    const undo = view.checkpoints.at(-1)!
    expect(undo.changes).toEqual([{ key: 'reserved', kind: 'changed', before: 'true', after: 'false' }])

    const done = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.completed}`)
    const ship2 = done.steps[4]!
    expect(ship2.changes[0]!.changes.map((c) => [c.key, c.kind])).toEqual([
      ['tags', 'removed'],
      ['label', 'added'],
      ['tracking', 'added'],
    ])
    expect(ship2.changes[0]!.changes[1]!.after).toBe('Uint8Array(4) [25 50 44 46]')
    expect(done.data).toContain('cents: 2490n')
    expect(done.graph.every((n) => n.state === 'completed' || n.state === 'skipped')).toBe(true)
  })

  it('shows suspended, sleeping, running, pending and compensation_failed runs for what they are', async () => {
    const waiting = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.suspended}`)
    expect(waiting.run.waitingFor).toBe('approved')
    expect(waiting.steps[1]).toMatchObject({ status: 'suspended', waitingFor: 'approved' })
    expect(waiting.graph[1]!.state).toBe('suspended')
    const sleeping = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.sleeping}`)
    expect(sleeping.run.wakeAt! - Date.now()).toBeGreaterThan(3_000_000)
    expect(sleeping.steps[1]!.status).toBe('suspended')
    const running = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.running}`)
    expect(running.run.leaseOwner).toBeTruthy()
    expect(running.graph.map((n) => n.state)).toEqual(['completed', 'current'])
    const pending = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.pending}`)
    expect(pending.run.status).toBe('pending')
    expect(pending.graph[0]!.state).toBe('current')
    const stuck = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.compensationFailed}`)
    expect(stuck.run.status).toBe('compensation_failed')
    expect(stuck.steps[1]!.compensation?.error).toBe('warehouse API refused the release')
    expect(stuck.graph[1]!.state).toBe('compensating')
    const cancelled = await json<RunDetailView>(readOnly.url, `/api/runs/${IDS.cancelled}`)
    expect(cancelled.error?.message).toBe('Workflow cancelled: customer changed their mind')
  })
})

describe('actions', () => {
  it('are off unless --allow-actions', async () => {
    expect((await json<{ actions: boolean }>(readOnly.url, '/api/info')).actions).toBe(false)
    const res = await postJson(readOnly.url, `/api/runs/${IDS.failed}/retry`, {})
    expect(res.status).toBe(403)
    expect(res.body).toContain('--allow-actions')
    expect((await json<{ actions: boolean }>(acting.url, '/api/info')).actions).toBe(true)
  })

  it('refuse cross-origin requests, non-JSON bodies and GET', async () => {
    const url = `/api/runs/${IDS.toCancel}/cancel`
    const origin = await postJson(
      acting.url,
      url,
      {},
      { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' },
    )
    expect(origin.status).toBe(403)
    expect(origin.body).toContain('Cross-origin')
    const site = await postJson(acting.url, url, {}, { 'Sec-Fetch-Site': 'same-site' })
    expect(site.status).toBe(403)
    const form = await raw(acting.url, url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'reason=x',
    })
    expect(form.status).toBe(415)
    expect((await raw(acting.url, url)).status).toBe(405)
    expect((await json<RunDetailView>(acting.url, `/api/runs/${IDS.toCancel}`)).run.status).toBe('suspended')
  })

  it('say clearly why they are refused', async () => {
    const badJson = await postJson(acting.url, `/api/runs/${IDS.toSignal}/signal`, {
      name: 'approved',
      payload: '{by: me}',
    })
    expect(badJson.status).toBe(400)
    expect(JSON.parse(badJson.body).error).toMatch(/^Payload is not valid JSON: /)
    const noName = await postJson(acting.url, `/api/runs/${IDS.toSignal}/signal`, { payload: '1' })
    expect(noName.status).toBe(400)
    const ended = await postJson(acting.url, `/api/runs/${IDS.completed}/signal`, { name: 'approved' })
    expect(ended.status).toBe(409)
    expect(JSON.parse(ended.body).error).toBe('Workflow is not suspended (status: completed)')
    const other = await postJson(acting.url, `/api/runs/${IDS.toSignal}/signal`, { name: 'rejected' })
    expect(other.status).toBe(409)
    expect(JSON.parse(other.body).error).toBe('Workflow waiting for signal "approved", received "rejected"')
    const unknown = await postJson(acting.url, '/api/runs/nope/signal', { name: 'approved' })
    expect(unknown.status).toBe(404)
    expect(JSON.parse(unknown.body).error).toBe('Workflow not found')
    const step = await postJson(acting.url, `/api/runs/${IDS.failed}/retry`, { fromStep: 'nope' })
    expect(step.status).toBe(400)
    expect(JSON.parse(step.body).error).toBe('Step not found: nope')
    const held = await postJson(acting.url, `/api/runs/${IDS.running}/retry`, {})
    expect(held.status).toBe(409)
    expect(JSON.parse(held.body).error).toContain('is being run by')
    const again = await postJson(acting.url, `/api/runs/${IDS.completed}/cancel`, {})
    expect(again.status).toBe(409)
    expect(JSON.parse(again.body).error).toContain('has already ended (status: completed)')
    expect((await postJson(acting.url, `/api/runs/${IDS.failed}/explode`, {})).status).toBe(404)
  })

  it('write to storage and the change reaches open pages live (SSE)', async () => {
    const before = await json<RunDetailView>(acting.url, `/api/runs/${IDS.sleeping}`)
    const stream = openEvents(acting.url, `/api/events?run=${IDS.sleeping}&rev=${before.run.revision}`)
    const list = openEvents(acting.url, '/api/events?status=cancelled')
    try {
      await list.until((events) => events.some((e) => e.event === 'list'))
      expect(list.events[0]!.data.runs.map((r: { id: string }) => r.id)).toEqual([IDS.cancelled])
      // A signal for a sleeping run waits in its mailbox.
      const res = await postJson(acting.url, `/api/runs/${IDS.sleeping}/signal`, {
        name: 'nudge',
        payload: '{"n": 1}',
      })
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body).message).toContain('stored')
      const [update] = await stream.until((events) => events.some((e) => e.event === 'run'))
      expect(update!.data.signals.pending).toEqual([
        { name: 'nudge', at: expect.any(Number), payload: '{ n: 1 }' },
      ])
      expect(update!.data.run.revision).toBeGreaterThan(before.run.revision)

      const cancel = await postJson(acting.url, `/api/runs/${IDS.sleeping}/cancel`, { reason: 'not tonight' })
      expect(JSON.parse(cancel.body)).toMatchObject({ ok: true, run: { status: 'cancelled' } })
      await stream.until((events) => events.filter((e) => e.event === 'run').length >= 2)
      expect(stream.events.at(-1)!.data.run.status).toBe('cancelled')
      await list.until((events) => events.filter((e) => e.event === 'list').length >= 2)
      expect(list.events.at(-1)!.data.runs.map((r: { id: string }) => r.id)).toEqual([
        IDS.sleeping,
        IDS.cancelled,
      ])
    } finally {
      stream.close()
      list.close()
    }
  })
})

describe('tokens and binding', () => {
  it('requires the token on every request once one is set, and trades the URL token for a cookie', async () => {
    const token = 'correct-horse-battery'
    const session = await startDev(['--db', path, '--port', '0', '--token', token], io)
    try {
      expect(session.url).toBe(`${session.server.url}?token=${token}`)
      for (const p of ['/', '/app.js', '/api/runs', `/api/runs/${IDS.completed}`, '/api/events'])
        expect((await raw(session.server.url, p)).status, p).toBe(401)
      expect(
        (await raw(session.server.url, '/api/runs', { headers: { Authorization: 'Bearer wrong-token-xx' } }))
          .status,
      ).toBe(401)
      expect(
        (await raw(session.server.url, '/api/runs', { headers: { Authorization: `Bearer ${token}` } }))
          .status,
      ).toBe(200)
      const open = await raw(session.server.url, `/?token=${token}`)
      expect(open.status).toBe(303)
      expect(open.headers.location).toBe('/')
      const cookie = String(open.headers['set-cookie']).split(';')[0]!
      expect(String(open.headers['set-cookie'])).toContain('HttpOnly')
      expect(String(open.headers['set-cookie'])).toContain('SameSite=Strict')
      expect((await raw(session.server.url, '/', { headers: { Cookie: cookie } })).status).toBe(200)
      const events = openEvents(session.server.url, '/api/events', { Cookie: cookie })
      await events.until((e) => e.length > 0)
      events.close()
      // With a token the Host check gives way (it may be reached by any name), the token does not.
      expect((await raw(session.server.url, '/api/info', { headers: { Host: 'viewer.lan' } })).status).toBe(
        401,
      )
    } finally {
      await session.close()
    }
  })

  it('refuses a non-loopback host without a token', async () => {
    const error = await startDev(['--db', path, '--port', '0', '--host', '0.0.0.0'], io).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(CliError)
    expect((error as CliError).exitCode).toBe(2)
    expect((error as CliError).message).toContain('--token')
    const opened = await openStore(path)
    const source = new StoreSource(opened.store, { label: path, onClose: opened.close })
    await expect(startViewerServer({ source, host: '0.0.0.0', port: 0 })).rejects.toThrow(/token/)
    const server = await startViewerServer({ source, host: '0.0.0.0', port: 0, token: 'a-long-enough-token' })
    try {
      const url = `http://127.0.0.1:${server.port}/`
      expect((await raw(url, '/api/info')).status).toBe(401)
      expect(
        (await raw(url, '/api/info', { headers: { Authorization: 'Bearer a-long-enough-token' } })).status,
      ).toBe(200)
    } finally {
      await server.close()
      await source.close()
    }
  })

  it('says so when the port is taken', async () => {
    const port = new URL(readOnly.url).port
    const error = await startDev(['--db', path, '--port', port], io).catch((e: unknown) => e)
    expect((error as CliError).exitCode).toBe(2)
    expect((error as Error).message).toContain(`Port ${port}`)
  })
})
