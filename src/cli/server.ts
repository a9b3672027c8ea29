/**
 * The `flux dev` server: `node:http`, a small JSON API, server-sent events and the static page
 * of `viewer/`.
 *
 * Security, since this page can show every order of a shop and (with `--allow-actions`) change
 * them:
 * - It binds to 127.0.0.1 unless told otherwise; a non-loopback host requires a token, and then
 *   every request must carry it (`Authorization: Bearer`, or the cookie set when the URL printed
 *   at start, `/?token=…`, is opened once).
 * - On loopback without a token, the `Host` header must name loopback too, so a web page that
 *   rebinds its own DNS name to 127.0.0.1 cannot read the API.
 * - Writes are POST with a JSON body, and are refused when the browser says they come from
 *   another origin (`Origin`, `Sec-Fetch-Site`): a page in another tab cannot drive them.
 * - The page is rendered with DOM APIs only, under a Content-Security-Policy that forbids inline
 *   script; only the few files of `viewer/` are served, by name.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { BadRequestError, parseListQuery, RUN_STATUSES } from './api.js'
import { httpStatusOf, messageOf } from './exit-codes.js'
import {
  digest,
  isLoopback,
  parsePayload,
  readJson,
  SECURITY_HEADERS,
  safeDecode,
  sendJson,
  sendText,
} from './http-kit.js'
import { LiveHub } from './live.js'
import type { ViewerSource } from './source.js'

/** Options of {@link startViewerServer}. */
export interface ViewerServerOptions {
  source: ViewerSource
  /** Default 127.0.0.1. Anything but loopback requires `token`. */
  host?: string
  /** Default 4280; 0 picks a free port. */
  port?: number
  /** Secret every request must carry. */
  token?: string | undefined
  /** Allow retry / signal / cancel from the page. Default false. */
  allowActions?: boolean
  /** How often open pages are checked for changes. Default 500 ms. */
  pollMs?: number
  /** Folder of the static page. Default: the package's `viewer/`. */
  viewerDir?: string
  /** Where server-side problems are reported. Default: nowhere. */
  onError?: (error: unknown) => void
}

/** A running server. */
export interface ViewerServer {
  /** Base URL (without the token). */
  readonly url: string
  readonly host: string
  readonly port: number
  /** Stops serving, ends open event streams. Idempotent. Does not close the source. */
  close(): Promise<void>
}

const STATIC_FILES: Readonly<Record<string, string>> = Object.freeze({
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'state.js': 'text/javascript; charset=utf-8',
  'list.js': 'text/javascript; charset=utf-8',
  'graph.js': 'text/javascript; charset=utf-8',
  'panels.js': 'text/javascript; charset=utf-8',
  'actions.js': 'text/javascript; charset=utf-8',
  'run.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
})

/** The package's static page. */
export function defaultViewerDir(): string {
  // src/cli and dist/cli sit two levels below the package root; a build elsewhere (the bench's
  // .bench/src/cli) sits deeper, so look upwards for the page.
  let root = new URL('../../', import.meta.url)
  for (let depth = 0; depth < 4; depth++) {
    const dir = new URL('viewer/', root)
    if (existsSync(fileURLToPath(new URL('index.html', dir)))) return fileURLToPath(dir)
    root = new URL('../', root)
  }
  return fileURLToPath(new URL('../../viewer/', import.meta.url))
}

/**
 * Starts the viewer server.
 *
 * @example
 * ```ts
 * const opened = await openStore('./data/flux.db')
 * const source = new StoreSource(opened.store, { label: opened.label, onClose: opened.close })
 * const server = await startViewerServer({ source, port: 0 })
 * console.log(server.url)
 * ```
 */
export async function startViewerServer(options: ViewerServerOptions): Promise<ViewerServer> {
  const host = options.host ?? '127.0.0.1'
  const token = options.token === '' ? undefined : options.token
  if (!isLoopback(host) && token === undefined)
    throw new Error(`Binding to ${host} exposes the viewer beyond this machine: pass a token (--token)`)
  const onError = options.onError ?? (() => undefined)
  const live = new LiveHub(options.source, options.pollMs ?? 500, onError)
  const app = new App(options, host, token, live)
  const server = createServer((req, res) => {
    app.handle(req, res).catch((error: unknown) => {
      onError(error)
      if (!res.headersSent) sendJson(res, 500, { error: messageOf(error) })
      else res.end()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 4280, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  app.port = port
  const urlHost = host.includes(':') ? `[${host}]` : host
  let closing: Promise<void> | undefined
  return {
    url: `http://${urlHost}:${port}/`,
    host,
    port,
    close() {
      closing ??= (async () => {
        await live.close()
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
      })()
      return closing
    },
  }
}

class App {
  port = 0
  readonly #source: ViewerSource
  readonly #allowActions: boolean
  readonly #viewerDir: string
  readonly #host: string
  readonly #tokenDigest: Buffer | undefined
  readonly #live: LiveHub
  readonly #files = new Map<string, { body: Buffer; mtimeMs: number; etag: string }>()

  constructor(options: ViewerServerOptions, host: string, token: string | undefined, live: LiveHub) {
    this.#source = options.source
    this.#allowActions = options.allowActions === true
    this.#viewerDir = options.viewerDir ?? defaultViewerDir()
    this.#host = host
    this.#tokenDigest = token === undefined ? undefined : digest(token)
    this.#live = live
  }

  get #cookieName(): string {
    // Cookies ignore ports: name it per port so two viewers on one host keep their own token.
    return `flux_token_${this.port}`
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://viewer.invalid')
    if (!this.#hostAllowed(req))
      return sendText(res, 421, 'Unexpected Host header: open the viewer by the address it printed')
    if (this.#tokenDigest !== undefined) {
      const presented = this.#presentedToken(req, url)
      if (presented.kind === 'none' || !this.#tokenMatches(presented.value))
        return sendText(
          res,
          401,
          'Missing or wrong token: open the URL that `flux dev` printed (it ends in ?token=…)',
        )
      if (
        presented.kind === 'query' &&
        (req.method === 'GET' || req.method === 'HEAD') &&
        !url.pathname.startsWith('/api/')
      ) {
        // Trade the token in the URL for a cookie, and drop it from the address bar and history.
        url.searchParams.delete('token')
        res.writeHead(303, {
          ...SECURITY_HEADERS,
          'Set-Cookie': `${this.#cookieName}=${encodeURIComponent(presented.value)}; HttpOnly; SameSite=Strict; Path=/`,
          Location: `${url.pathname}${url.search}`,
        })
        return void res.end()
      }
    }
    const path = url.pathname
    if (path.startsWith('/api/')) return this.#api(req, res, url)
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendText(res, 405, 'Method not allowed', { Allow: 'GET, HEAD' })
    return this.#static(req, res, path, req.method === 'HEAD')
  }

  #hostAllowed(req: IncomingMessage): boolean {
    if (this.#tokenDigest !== undefined || !isLoopback(this.#host)) return true
    const header = req.headers.host ?? ''
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(header)
    if (!match) return false
    return isLoopback(match[1]!) && (match[2] === undefined || Number(match[2]) === this.port)
  }

  #presentedToken(
    req: IncomingMessage,
    url: URL,
  ): { kind: 'none' } | { kind: 'header' | 'cookie' | 'query'; value: string } {
    const auth = req.headers.authorization
    if (auth?.startsWith('Bearer ')) return { kind: 'header', value: auth.slice(7).trim() }
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [name, ...rest] = part.trim().split('=')
      if (name === this.#cookieName) return { kind: 'cookie', value: safeDecode(rest.join('=')) }
    }
    const query = url.searchParams.get('token')
    if (query !== null) return { kind: 'query', value: query }
    return { kind: 'none' }
  }

  #tokenMatches(value: string): boolean {
    return timingSafeEqual(digest(value), this.#tokenDigest!)
  }

  async #static(req: IncomingMessage, res: ServerResponse, path: string, head: boolean): Promise<void> {
    let name: string
    try {
      name = decodeURIComponent(path === '/' ? 'index.html' : path.slice(1))
    } catch {
      return sendText(res, 400, 'Bad path')
    }
    // Only the page's own files, by exact name: no folders, no dots, no traversal.
    if (/[\\/\0]|\.\./.test(name)) return sendText(res, 400, 'Path refused')
    const type = STATIC_FILES[name]
    if (type === undefined) return sendText(res, 404, 'Not found')
    const file = await this.#file(name)
    // `no-cache` means "revalidate": a reload costs a 304 per file, and an edited file is seen at once.
    const headers = {
      ...SECURITY_HEADERS,
      'Content-Type': type,
      'Cache-Control': 'no-cache',
      ETag: file.etag,
    }
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, headers)
      return void res.end()
    }
    res.writeHead(200, { ...headers, 'Content-Length': file.body.length })
    res.end(head ? undefined : file.body)
  }

  /** A static file, read once and again only when it changes on disk. */
  async #file(name: string): Promise<{ body: Buffer; etag: string }> {
    const path = `${this.#viewerDir}/${name}`
    const { mtimeMs, size } = await stat(path)
    const cached = this.#files.get(name)
    if (cached && cached.mtimeMs === mtimeMs && cached.body.length === size) return cached
    const body = await readFile(path)
    const entry = {
      body,
      mtimeMs,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    }
    this.#files.set(name, entry)
    return entry
  }

  async #api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').slice(2)
    let segments: string[]
    try {
      segments = parts.map((p) => decodeURIComponent(p))
    } catch {
      return sendJson(res, 400, { error: 'Bad path' })
    }
    const [first, id, action, ...rest] = segments
    try {
      if (req.method === 'POST') {
        if (first === 'runs' && id && action && rest.length === 0)
          return await this.#action(req, res, id, action)
        return sendJson(res, 405, { error: 'Method not allowed' }, { Allow: 'GET, HEAD' })
      }
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendJson(res, 405, { error: 'Method not allowed' })
      if (first === 'runs' && id !== undefined && action !== undefined)
        return sendJson(res, 405, { error: 'Actions are POST requests' }, { Allow: 'POST' })
      if (first === 'info' && id === undefined) return sendJson(res, 200, this.#info())
      if (first === 'workflows' && id === undefined) return sendJson(res, 200, await this.#source.workflows())
      if (first === 'runs' && id === undefined)
        return sendJson(res, 200, await this.#source.list(parseListQuery(url.searchParams)))
      if (first === 'runs' && id !== undefined && action === undefined) {
        const view = await this.#source.run(id)
        return view ? sendJson(res, 200, view) : sendJson(res, 404, { error: `No run with id "${id}"` })
      }
      if (first === 'events' && id === undefined) {
        const runId = url.searchParams.get('run')
        if (runId !== null) {
          const since = url.searchParams.get('rev')
          const revision = since !== null && /^\d+$/.test(since) ? Number(since) : null
          return this.#live.add(res, { kind: 'run', id: runId, revision })
        }
        return this.#live.add(res, { kind: 'list', query: parseListQuery(url.searchParams) })
      }
      return sendJson(res, 404, { error: 'No such API route' })
    } catch (error) {
      return sendJson(res, httpStatusOf(error), { error: messageOf(error) })
    }
  }

  #info() {
    return {
      source: this.#source.kind,
      label: this.#source.label,
      actions: this.#allowActions && this.#source.actions !== undefined,
      statuses: RUN_STATUSES,
    }
  }

  async #action(req: IncomingMessage, res: ServerResponse, id: string, action: string): Promise<void> {
    const actions = this.#source.actions
    if (!this.#allowActions)
      return sendJson(res, 403, {
        error: 'Actions are off: start flux dev with --allow-actions to retry, signal or cancel runs',
      })
    if (!actions)
      return sendJson(res, 403, {
        error: 'A trace file is read-only: open the database with --db to act on runs',
      })
    const origin = req.headers.origin
    const site = req.headers['sec-fetch-site']
    if (
      (origin !== undefined && origin !== `http://${req.headers.host}`) ||
      (site !== undefined && site !== 'same-origin')
    )
      return sendJson(res, 403, { error: 'Cross-origin request refused' })
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
      return sendJson(res, 415, { error: 'Send the action as application/json' })
    const body = await readJson(req)
    switch (action) {
      case 'retry': {
        const fromStep = body.fromStep
        if (
          fromStep !== undefined &&
          fromStep !== null &&
          fromStep !== '' &&
          typeof fromStep !== 'string' &&
          typeof fromStep !== 'number'
        )
          throw new BadRequestError('fromStep must be a step name or index')
        const from =
          fromStep === null || fromStep === '' ? undefined : (fromStep as string | number | undefined)
        return sendJson(
          res,
          200,
          await actions.retry(id, {
            ...(from !== undefined ? { fromStep: from } : {}),
            recommit: body.recommit === true,
          }),
        )
      }
      case 'signal': {
        if (typeof body.name !== 'string' || body.name.trim() === '')
          throw new BadRequestError('Give the signal a name')
        return sendJson(res, 200, await actions.signal(id, body.name.trim(), parsePayload(body.payload)))
      }
      case 'cancel': {
        const reason =
          typeof body.reason === 'string' && body.reason.trim() !== '' ? body.reason.trim() : undefined
        return sendJson(res, 200, await actions.cancel(id, reason))
      }
      default:
        return sendJson(res, 404, { error: `No action "${action}": use retry, signal or cancel` })
    }
  }
}

export { CONTENT_SECURITY_POLICY, isLoopback, parsePayload } from './http-kit.js'
