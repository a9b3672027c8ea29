/**
 * Google Cloud Functions (HTTP): start or look up the run for an order.
 *
 *   npx tsx examples/gcp-function.ts
 *
 * Deploy `runFlux` with `@google-cloud/functions-framework` (`functions.http('runFlux', runFlux)`).
 * This repository does not depend on that package, so the request and response types below are
 * the structural slice of its `HttpFunction` (Express's request and response) that we use: the
 * framework's real objects satisfy them, and a test can pass plain fakes.
 */
import { createWorkflow, FluxEngine, FluxSilentLogger, InvalidInputError } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

/** The part of an Express request we read. */
export interface HttpRequest {
  method: string
  body?: unknown
}

/** The part of an Express response we write. */
export interface HttpResponse {
  status(code: number): HttpResponse
  json(body: unknown): unknown
}

/** `@google-cloud/functions-framework`'s `HttpFunction`, structurally. */
export type HttpFunction = (req: HttpRequest, res: HttpResponse) => unknown

interface OrderInput {
  orderId: string
}

const isOrderInput = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as OrderInput).orderId === 'string'

export function createRunFlux(engine: FluxEngine, notifier: Outbox<OrderInput>): HttpFunction {
  const workflow = createWorkflow('gcp-flow')
    .input<OrderInput>()
    // Checked before any run is stored; a bad body is the client's error, not a failed run.
    .validate(isOrderInput)
    .step('prepare', (ctx) => {
      ctx.data.ready = true
    })
    .commit('notify', (ctx) => notifier.send({ orderId: ctx.input.orderId }))

  return async (req, res) => {
    if (req.method !== 'POST') return res.status(405).json({ error: 'POST only' })
    const payload = (req.body ?? {}) as OrderInput
    try {
      // The order id is the idempotency key: a client retrying a timed-out request gets the
      // same run back, and the commit does not run twice.
      const result = await engine.execute(workflow, payload, { id: `order-${payload.orderId}` })
      return res.status(200).json({ status: result.status, id: result.id })
    } catch (error) {
      if (error instanceof InvalidInputError) return res.status(400).json({ error: error.message })
      throw error
    }
  }
}

/** The deployed function: one engine per instance, reused across requests. */
export const runFlux: HttpFunction = createRunFlux(new FluxEngine(), new Outbox('order-confirmations'))

export interface Outcome {
  responses: { status: number; body: unknown }[]
  notified: OrderInput[]
}

/** A stand-in for Express's response that remembers what the function wrote. */
function fakeResponse(into: Outcome['responses']): HttpResponse {
  let status = 200
  const res: HttpResponse = {
    status(code) {
      status = code
      return res
    },
    json(body) {
      into.push({ status, body })
      return res
    },
  }
  return res
}

export async function main(): Promise<Outcome> {
  const notifier = new Outbox<OrderInput>('order-confirmations')
  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  const fn = createRunFlux(engine, notifier)
  const responses: Outcome['responses'] = []
  try {
    await fn({ method: 'POST', body: { orderId: 'ORD-1' } }, fakeResponse(responses))
    await fn({ method: 'POST', body: { orderId: 'ORD-1' } }, fakeResponse(responses)) // client retry
    await fn({ method: 'POST', body: { order: 'ORD-2' } }, fakeResponse(responses))
    await fn({ method: 'GET' }, fakeResponse(responses))
    return { responses, notified: notifier.sent }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { responses, notified } = await main()
  for (const r of responses) console.log(`${r.status} ${JSON.stringify(r.body)}`)
  console.log(`confirmations sent: ${notified.length}`)
}
