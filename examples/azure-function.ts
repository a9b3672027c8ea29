/**
 * Azure Functions (HTTP trigger): start or look up the run for an order.
 *
 *   npx tsx examples/azure-function.ts
 *
 * Two shapes, for the two programming models of `@azure/functions`:
 * - v3 (the origin's sample): `export default httpTrigger`, an `AzureFunction(context, req)` that
 *   answers by setting `context.res`;
 * - v4: `app.http('runFlux', { methods: ['POST'], handler: runFluxV4 })`, a handler
 *   `(request, context)` that returns an `HttpResponseInit`.
 * This repository does not depend on `@azure/functions`, so the types below are the structural
 * slice of its types that we use: the runtime's objects satisfy them, and a test can pass fakes.
 */
import { createWorkflow, FluxEngine, FluxSilentLogger, InvalidInputError } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

/** v3 `Context`, structurally. */
export interface Context {
  invocationId: string
  log: (...args: any[]) => void
  res?: { [key: string]: any }
}

/** v3 `HttpRequest`, structurally. */
export interface HttpRequest {
  method: string | null
  body?: any
}

/** v3 `AzureFunction`. */
export type AzureFunction = (context: Context, ...args: any[]) => Promise<any> | void

/** v4 `HttpRequest` and `InvocationContext`, structurally; `json()` reads the body. */
export interface HttpRequestV4 {
  method: string
  json(): Promise<unknown>
}
export interface InvocationContext {
  invocationId: string
  log(...args: any[]): void
}

/** v4 `HttpResponseInit`, the part we return. */
export interface HttpResponseInit {
  status?: number
  jsonBody?: any
}

interface OrderInput {
  orderId: string
}

export function createHandlers(engine: FluxEngine, notifier: Outbox<OrderInput>) {
  const workflow = createWorkflow('azure-flow')
    .input<OrderInput>()
    .validate((v) => typeof v === 'object' && v !== null && typeof (v as OrderInput).orderId === 'string')
    .step('prepare', (ctx) => {
      ctx.data.ready = true
    })
    .commit('notify', (ctx) => notifier.send({ orderId: ctx.input.orderId }))

  /** Runs (or finds) the order's run. The order id is the run id, so retries never notify twice. */
  async function run(payload: unknown): Promise<HttpResponseInit> {
    try {
      const { orderId } = payload as OrderInput
      const result = await engine.execute(workflow, payload as OrderInput, { id: `order-${orderId}` })
      return { status: 200, jsonBody: { status: result.status, id: result.id } }
    } catch (error) {
      if (error instanceof InvalidInputError) return { status: 400, jsonBody: { error: error.message } }
      throw error
    }
  }

  const httpTrigger: AzureFunction = async (context: Context, req: HttpRequest) => {
    const { status, jsonBody } = await run(req.body ?? {})
    context.res = { status, body: jsonBody, headers: { 'content-type': 'application/json' } }
  }

  const runFluxV4 = async (request: HttpRequestV4, context: InvocationContext): Promise<HttpResponseInit> => {
    context.log(`flux request ${context.invocationId}`)
    return run(await request.json().catch(() => ({})))
  }

  return { httpTrigger, runFluxV4 }
}

// One engine per function host, reused across invocations.
const handlers = createHandlers(new FluxEngine(), new Outbox('order-confirmations'))
export const runFluxV4 = handlers.runFluxV4
export default handlers.httpTrigger

export interface Outcome {
  v3: unknown[]
  v4: HttpResponseInit[]
  notified: OrderInput[]
}

export async function main(): Promise<Outcome> {
  const notifier = new Outbox<OrderInput>('order-confirmations')
  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  const { httpTrigger, runFluxV4 } = createHandlers(engine, notifier)
  const context = (): Context => ({ invocationId: crypto.randomUUID(), log: () => {} })
  const request = (body: unknown): HttpRequestV4 => ({ method: 'POST', json: async () => body })
  try {
    const v3: unknown[] = []
    for (const body of [{ orderId: 'ORD-1' }, { orderId: 'ORD-1' }, { nope: true }]) {
      const ctx = context()
      await httpTrigger(ctx, { method: 'POST', body })
      v3.push(ctx.res)
    }
    // The same order through the v4 handler: the run already exists, nothing is sent again.
    const v4 = [
      await runFluxV4(request({ orderId: 'ORD-1' }), context()),
      await runFluxV4(request({ orderId: 'ORD-2' }), context()),
    ]
    return { v3, v4, notified: notifier.sent }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { v3, v4, notified } = await main()
  for (const res of v3) console.log(`v3 ${JSON.stringify(res)}`)
  for (const res of v4) console.log(`v4 ${JSON.stringify(res)}`)
  console.log(`confirmations sent: ${notified.map((n) => n.orderId).join(', ')}`)
}
