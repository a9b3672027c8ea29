/**
 * A Fetch-API request handler for webhooks and signals: `(request: Request) => Promise<Response>`,
 * built on the global `Request`/`Response`/`URL` only, so it runs in Hono (`c.req.raw`),
 * `Bun.serve({ fetch })`, Deno, and Node (behind a small `node:http` adapter, see
 * examples/http-signals.ts).
 *
 * Routes (below `basePath`; every body is JSON, every answer is JSON):
 * - `POST /workflows/:name/runs` — a webhook starts a run; the body is the input. The run id is
 *   the `Idempotency-Key` header (or `?id=`; both given must agree); without one the engine picks
 *   a random id. 202 `{id}` (the run goes on in this process), or with `?wait=true` 200 with the
 *   result once the run is at rest. A repeat with the same id answers for the existing run and
 *   never starts a second one (the first request's input wins); an id already used by a run of
 *   another workflow is a 409.
 * - `POST /runs/:id/signals/:signal` — delivers a signal; the body is the payload. 202
 *   `{id, signal, status}` once it is stored (`{wait: false}`: a worker continues the run), or with
 *   `?wait=true` 200 with the result after this process has continued the run.
 * - `GET /runs/:id` — the run's state (`engine.get`) as JSON.
 * `?wait=true|1` (or a bare `?wait`) waits; `false|0` or no `wait` does not; anything else is a 400.
 * Path segments are percent-decoded after splitting on `/`, so an id may hold any character
 * (`encodeURIComponent` it) — except that URL parsing itself collapses `.` and `..` segments.
 * A header can only carry ASCII: send other ids as `?id=`.
 *
 * Statuses (library errors map as in the viewer, see status.ts): 400 bad JSON, bad input
 * (`.validate()`/`.schema()`, with `issues`) or bad query; 401 `authorize` said no; 404 unknown
 * route, workflow, or run (a run of a workflow not in `workflows` is reported unknown: the
 * handler never reveals or touches other workflows' runs); 405 wrong method (with `Allow`); 409
 * the run's state refuses the request (it waits for another signal, the same signal is already
 * stored, it has ended or been cancelled, its definition changed, another worker holds it) or the
 * id belongs to another workflow; 413 body over `maxBodyBytes`; 415 a non-empty body that is not
 * `application/json`; 503 storage failure or stopped engine; 500 anything else (a FluxError's
 * message, otherwise a generic one; every 5xx cause goes to `onError`). Errors are
 * `{error, code}`. A result is
 * `{id, status, data, error, waitingFor, duration}`, 200 whatever the run's outcome: `status`
 * says whether it completed, failed or is suspended (on `waitingFor`). Values JSON cannot hold
 * (Dates, BigInts, Maps, cycles…) are converted (see json.ts), never a crash.
 *
 * Security: without `authorize` the handler is open; mount it behind the app's own auth, or pass
 * `authorize`, which sees the request and the raw body bytes (to check a webhook signature —
 * read the body there, not from the request, which the handler reads once) and runs before any
 * input is parsed. On run routes the run is looked up first (so `route.workflow` is known), but
 * an unauthorized caller gets 401 whether the run exists or not. Bodies are read chunk by chunk up to `maxBodyBytes`. Answers are
 * `no-store` and `nosniff`; CORS and rate limits are the app's job.
 *
 * The handler never throws: every failure is a Response.
 */
import type { FluxEngine } from '../engine/engine.js'
import { FluxError, InvalidInputError, WorkflowNotFoundError } from '../errors.js'
import type { FluxResult } from '../types.js'
import { type FlowLike, resolveDefinition } from '../workflow/definition.js'
import { errorJson, HttpError, jsonResponse, parseJsonBody, readBodyBytes } from './json.js'
import { httpStatusOfFluxError } from './status.js'

/** What a request asks for, as `authorize` sees it. */
export interface FetchHandlerRoute {
  action: 'start' | 'signal' | 'get'
  /** `start`: the workflow named in the path. `signal`/`get`: the run's workflow, when the run exists. */
  workflow?: string
  /** `signal`/`get`: the run id from the path. `start`: the requested id, if any. */
  runId?: string
  /** `signal`: the signal name. */
  signal?: string
}

/** The second argument of `authorize`. */
export interface FetchHandlerAuthorizeContext {
  route: FetchHandlerRoute
  /** The raw request body (empty for GET), e.g. to verify an HMAC webhook signature. */
  body: Uint8Array
}

/** Options of {@link createFetchHandler}. */
export interface FetchHandlerOptions {
  /** The workflows this handler may start and signal, by their names. Runs of any other are 404. */
  workflows: readonly FlowLike[]
  /** Prefix of every route, e.g. `/api/flux`. Default `''`. */
  basePath?: string
  /**
   * Decides whether a request may proceed (false → 401). Without it the handler is open and
   * must sit behind the app's own authentication.
   */
  authorize?: (request: Request, context: FetchHandlerAuthorizeContext) => boolean | Promise<boolean>
  /** Largest body accepted, in bytes (413 beyond). Default 1 MiB. */
  maxBodyBytes?: number
  /** Header carrying the run id of a webhook. Default `Idempotency-Key`. */
  idempotencyHeader?: string
  /** Told of every 5xx answer's cause (and of a throwing `authorize`). Must not throw; if it does, that is ignored. */
  onError?: (error: unknown, request: Request) => void
}

/** A Fetch-API handler: takes a `Request`, always resolves with a `Response`. */
export type FetchHandler = (request: Request) => Promise<Response>

type Route =
  | { action: 'start'; workflow: string }
  | { action: 'signal'; runId: string; signal: string }
  | { action: 'get'; runId: string }

/**
 * Builds a Fetch-API handler that starts runs from webhooks, delivers signals and shows runs.
 *
 * @example
 * ```ts
 * const handle = createFetchHandler(engine, {
 *   workflows: [expenseFlow],
 *   basePath: '/flux',
 *   authorize: (req) => req.headers.get('authorization') === `Bearer ${process.env.FLUX_TOKEN}`,
 * })
 * Bun.serve({ fetch: handle })                        // Bun
 * app.all('/flux/*', (c) => handle(c.req.raw))        // Hono
 * // curl -X POST localhost:3000/flux/runs/$ID/signals/approve?wait=true \
 * //   -H 'content-type: application/json' -d '{"by":"ada"}'
 * ```
 */
export function createFetchHandler(engine: FluxEngine, options: FetchHandlerOptions): FetchHandler {
  const flows = new Map<string, FlowLike>()
  for (const flow of options.workflows) {
    const { name } = resolveDefinition(flow)
    if (flows.has(name)) throw new FluxError(`createFetchHandler: workflow "${name}" is listed twice`)
    flows.set(name, flow)
  }
  const base = normaliseBasePath(options.basePath ?? '')
  const limit = options.maxBodyBytes ?? 1024 * 1024
  if (!Number.isInteger(limit) || limit < 0)
    throw new FluxError('createFetchHandler: maxBodyBytes must be a whole number of bytes')
  const idHeader = options.idempotencyHeader ?? 'Idempotency-Key'
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(idHeader))
    throw new FluxError(`createFetchHandler: idempotencyHeader "${idHeader}" is not a header name`)
  const report = (error: unknown, request: Request) => {
    try {
      options.onError?.(error, request)
    } catch {
      // A failing reporter must not turn an answer into a throw.
    }
  }

  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url)
    const route = matchRoute(url.pathname, base)
    if (route === null) throw new HttpError(404, 'NOT_FOUND', 'No such route')
    const method = route.action === 'get' ? 'GET' : 'POST'
    if (request.method !== method)
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `Use ${method}`, { Allow: method })
    const body = method === 'POST' ? await readBodyBytes(request, limit) : new Uint8Array(0)

    const flow = route.action === 'start' ? flows.get(route.workflow) : await flowOfRun(route.runId)
    if (options.authorize) {
      const seen = authorizeRoute(
        route,
        flow ? resolveDefinition(flow).name : undefined,
        url,
        request,
        idHeader,
      )
      let allowed: boolean
      try {
        allowed = (await options.authorize(request, { route: seen, body })) === true
      } catch (error) {
        report(error, request)
        return jsonResponse(500, { error: 'Authorization failed', code: 'INTERNAL' })
      }
      if (!allowed) throw new HttpError(401, 'UNAUTHORIZED', 'Not authorized')
    }
    if (flow === undefined)
      throw route.action === 'start'
        ? new HttpError(404, 'NOT_FOUND', `No workflow named "${route.workflow}"`)
        : new WorkflowNotFoundError(route.runId)

    const wait = route.action !== 'get' && waitParam(url)
    switch (route.action) {
      case 'start': {
        const input = parseJsonBody(body, request.headers.get('content-type'))
        const id = runIdOf(url, request, idHeader)
        const runOptions = id === undefined ? {} : { id }
        if (wait) {
          const result = await engine.execute(flow, input, runOptions)
          if (id !== undefined) await sameWorkflow(result.id, route.workflow)
          return jsonResponse(200, resultJson(result))
        }
        const started = await engine.start(flow, input, runOptions)
        if (id !== undefined) await sameWorkflow(started, route.workflow)
        return jsonResponse(202, { id: started }, { Location: runLocation(base, started) })
      }
      case 'signal': {
        const payload = parseJsonBody(body, request.headers.get('content-type'))
        if (wait)
          return jsonResponse(200, resultJson(await engine.signal(flow, route.runId, route.signal, payload)))
        const stored = await engine.signal(flow, route.runId, route.signal, payload, { wait: false })
        return jsonResponse(
          202,
          { id: stored.id, signal: route.signal, status: stored.status },
          { Location: runLocation(base, stored.id) },
        )
      }
      case 'get': {
        const state = await engine.get(route.runId)
        if (state === null) throw new WorkflowNotFoundError(route.runId)
        return jsonResponse(200, state)
      }
    }
  }

  /** The allowed flow a stored run belongs to; undefined for no run or another workflow's run. */
  async function flowOfRun(id: string): Promise<FlowLike | undefined> {
    // The store is read directly here: it must be initialised first, as the engine's own calls do.
    await engine.init()
    const run = await engine.storage.getRun(id)
    return run === null ? undefined : flows.get(run.workflowName)
  }

  /** A caller-chosen id that already names a run of another workflow must not answer for it. */
  async function sameWorkflow(id: string, workflow: string): Promise<void> {
    const run = await engine.storage.getRun(id)
    if (run !== null && run.workflowName !== workflow)
      throw new HttpError(409, 'ID_CONFLICT', 'This run id is already used by a run of another workflow')
  }

  return async (request) => {
    try {
      return await handle(request)
    } catch (error) {
      const answer = errorAnswer(error)
      if (answer.status >= 500) report(error, request)
      try {
        return jsonResponse(answer.status, answer.body, answer.headers)
      } catch (failure) {
        report(failure, request)
        return new Response('{"error":"Internal server error","code":"INTERNAL"}', {
          status: 500,
          headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
        })
      }
    }
  }
}

function normaliseBasePath(path: string): string {
  if (/[?#]/.test(path)) throw new FluxError(`createFetchHandler: basePath "${path}" must be a path only`)
  // Encode it the way request paths arrive, so `/my flux` matches `/my%20flux`.
  const encoded = new URL(path.startsWith('/') ? path : `/${path}`, 'http://base.invalid').pathname
  return encoded.replace(/\/+$/, '')
}

function matchRoute(pathname: string, base: string): Route | null {
  if (!pathname.startsWith(`${base}/`)) return null
  let parts: string[]
  try {
    // Split before decoding: an encoded `/` (%2F) stays inside its segment.
    parts = pathname
      .slice(base.length + 1)
      .split('/')
      .map((p) => decodeURIComponent(p))
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'Malformed percent-encoding in the path')
  }
  if (parts.some((p) => p === '')) return null
  const [first, second, third, fourth, ...rest] = parts
  if (rest.length > 0 || second === undefined) return null
  if (first === 'workflows' && third === 'runs' && fourth === undefined)
    return { action: 'start', workflow: second }
  if (first === 'runs' && third === undefined) return { action: 'get', runId: second }
  if (first === 'runs' && third === 'signals' && fourth !== undefined)
    return { action: 'signal', runId: second, signal: fourth }
  return null
}

function authorizeRoute(
  route: Route,
  workflow: string | undefined,
  url: URL,
  request: Request,
  idHeader: string,
): FetchHandlerRoute {
  if (route.action === 'start') {
    // A malformed id is reported after authorization, not to an unauthorized caller.
    let runId: string | undefined
    try {
      runId = runIdOf(url, request, idHeader)
    } catch {
      runId = undefined
    }
    return { action: 'start', workflow: route.workflow, ...(runId !== undefined ? { runId } : {}) }
  }
  return {
    ...route,
    ...(workflow !== undefined ? { workflow } : {}),
  }
}

function waitParam(url: URL): boolean {
  const value = url.searchParams.get('wait')
  if (value === null) return false
  const v = value.trim().toLowerCase()
  if (v === '' || v === 'true' || v === '1') return true
  if (v === 'false' || v === '0') return false
  throw new HttpError(400, 'BAD_REQUEST', `wait must be true or false, not "${value}"`)
}

/** The webhook's run id: the idempotency header or `?id=`; both given must agree. */
function runIdOf(url: URL, request: Request, header: string): string | undefined {
  const fromHeader = request.headers.get(header)
  const fromQuery = url.searchParams.get('id')
  if (fromHeader !== null && fromQuery !== null && fromHeader !== fromQuery)
    throw new HttpError(400, 'BAD_REQUEST', `The ${header} header and ?id= name different runs`)
  const id = fromHeader ?? fromQuery
  if (id === null) return undefined
  if (id === '') throw new HttpError(400, 'BAD_REQUEST', 'A run id cannot be empty')
  return id
}

function runLocation(base: string, id: string): string {
  return `${base}/runs/${encodeURIComponent(id)}`
}

/** What the API shows of a result: the history is left to `GET /runs/:id`. */
function resultJson(result: FluxResult<unknown>) {
  const waiting = result.history.find((step) => step.status === 'suspended' && step.waitingFor !== undefined)
  return {
    id: result.id,
    status: result.status,
    data: result.data,
    error: result.error ? errorJson(result.error) : null,
    waitingFor: result.status === 'suspended' ? (waiting?.waitingFor ?? null) : null,
    duration: result.duration,
  }
}

function errorAnswer(error: unknown): {
  status: number
  body: { error: string; code: string; issues?: readonly unknown[] }
  headers?: Record<string, string>
} {
  if (error instanceof HttpError)
    return {
      status: error.status,
      body: { error: error.message, code: error.code },
      headers: { ...error.headers },
    }
  if (!(error instanceof FluxError))
    return { status: 500, body: { error: 'Internal server error', code: 'INTERNAL' } }
  const body = { error: error.message, code: error.code }
  if (error instanceof InvalidInputError) return { status: 400, body: { ...body, issues: error.issues } }
  return { status: httpStatusOfFluxError(error), body }
}
