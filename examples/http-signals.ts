/**
 * Webhooks and signals over HTTP: `createFetchHandler` serves a refund workflow — a webhook starts
 * it, an approver's signal continues it — on `node:http` here, and as is in Hono or Bun.serve.
 *
 *   npx tsx examples/http-signals.ts
 *
 * The handler speaks the Fetch API (`Request` → `Response`). Bun.serve and Hono take it directly
 * (`Bun.serve({ fetch: handle })`, `app.all('/flux/*', (c) => handle(c.req.raw))`); `node:http`
 * needs the few lines of {@link toNodeListener}.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import {
  createFetchHandler,
  createWorkflow,
  type FetchHandler,
  Flux,
  FluxEngine,
  FluxSilentLogger,
} from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

interface RefundRequest {
  orderId: string
  amountCents: number
}

/** Serves a Fetch-API handler from `node:http`: IncomingMessage → Request, Response → ServerResponse. */
export function toNodeListener(handle: FetchHandler) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const headers = new Headers()
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    const request = new Request(new URL(req.url ?? '/', 'http://localhost'), {
      method: req.method ?? 'GET',
      headers,
      ...(hasBody
        ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' as const }
        : {}),
    })
    // The handler never rejects: every failure is already a Response.
    void handle(request).then(async (response) => {
      res.writeHead(response.status, Object.fromEntries(response.headers))
      res.end(Buffer.from(await response.arrayBuffer()))
    })
  }
}

export interface Exchange {
  request: string
  status: number
  body: unknown
}

export interface Outcome {
  exchanges: Exchange[]
  refunds: RefundRequest[]
}

export async function main(): Promise<Outcome> {
  const payments = new Outbox<RefundRequest>('payments')
  const refund = createWorkflow('refund')
    .input<RefundRequest>()
    // A webhook body is untrusted: a bad one is a 400 and no run is stored.
    .validate((input) => {
      const r = input as Partial<RefundRequest> | null
      return typeof r?.orderId === 'string' && Number.isInteger(r.amountCents)
    })
    .step('review', () => Flux.wait('approve'))
    .commit('pay', async (ctx) => {
      await payments.send(ctx.input)
      ctx.data.approvedBy = (ctx.signals.approve as { by: string }).by
    })

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  const token = 'demo-token'
  const handle = createFetchHandler(engine, {
    workflows: [refund],
    basePath: '/flux',
    // Without `authorize` the handler is open: keep it behind the app's own auth.
    authorize: (request) => request.headers.get('authorization') === `Bearer ${token}`,
  })
  const server = createServer(toNodeListener(handle))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/flux`

  const exchanges: Exchange[] = []
  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const json = (await response.json()) as Record<string, unknown>
    exchanges.push({ request: `${method} ${path}`, status: response.status, body: json })
    return json
  }

  try {
    // The shop's webhook: the Idempotency-Key is the run id, so a redelivery is the same run.
    const key = { 'Idempotency-Key': 'refund/ORD-7' }
    const { id } = await send(
      'POST',
      '/workflows/refund/runs?wait=true',
      { orderId: 'ORD-7', amountCents: 1_500 },
      key,
    )
    await send('POST', '/workflows/refund/runs', { orderId: 'ORD-7', amountCents: 1_500 }, key) // redelivery
    await send('POST', '/workflows/refund/runs', { orderId: 'ORD-8' }) // no amount: 400
    const path = `/runs/${encodeURIComponent(String(id))}`
    await send('GET', path)
    await send('POST', `${path}/signals/reject`, { by: 'ada' }) // it waits for "approve": 409
    await send('POST', `${path}/signals/approve`, { by: 'mallory' }, { authorization: 'Bearer guess' }) // 401
    await send('POST', `${path}/signals/approve?wait=true`, { by: 'ada' })
    await send('POST', `${path}/signals/approve`, { by: 'ada' }) // already done: 409
    return { exchanges, refunds: payments.sent }
  } finally {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { exchanges, refunds } = await main()
  for (const e of exchanges) {
    const body = e.body as { status?: string; error?: string; id?: string }
    console.log(`${e.request.padEnd(58)} ${e.status} ${body.error ?? body.status ?? body.id}`)
  }
  console.log(`refunds paid: ${JSON.stringify(refunds)}`)
}
