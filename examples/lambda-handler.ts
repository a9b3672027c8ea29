/**
 * AWS Lambda: a stateless function that runs a workflow per event.
 *
 *   npx tsx examples/lambda-handler.ts
 *
 * Lambda retries a failed asynchronous invocation, and queues and event buses deliver at least
 * once, so the same event can arrive twice. The run id is derived from the event: the second
 * delivery finds the first run instead of starting another, and the confirmation is sent once.
 * For that to hold across containers, give the engine shared durable storage (PostgresStorage);
 * MemoryStorage, used here, only remembers what this container has seen.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createWorkflow, FluxEngine, FluxSilentLogger, JsonFileTraceSink, MemoryStorage } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

export interface OrderEvent {
  orderId: string
}

export interface HandlerResponse {
  status: string
  id: string
}

/** Builds the function for an engine and a notifier (the test passes its own). */
export function createHandler(engine: FluxEngine, notifier: Outbox<{ orderId: string }>) {
  const workflow = createWorkflow('lambda-flow')
    .input<OrderEvent>()
    .step('prepare', (ctx) => {
      ctx.data.ready = true
    })
    .commit('notify', (ctx) => notifier.send({ orderId: ctx.input.orderId }))

  return async (event: OrderEvent): Promise<HandlerResponse> => {
    const result = await engine.execute(
      workflow,
      { orderId: event.orderId },
      { id: `order-${event.orderId}` },
    )
    return { status: result.status, id: result.id }
  }
}

// What Lambda invokes. Module scope lives as long as the container, so the engine is built at cold
// start and reused by every warm invocation. /tmp is the only writable directory on Lambda.
export const handler = createHandler(
  new FluxEngine({
    storage: new MemoryStorage(),
    trace: new JsonFileTraceSink({ path: join(tmpdir(), 'flux-trace.ndjson'), reset: false }),
  }),
  new Outbox('order-confirmations'),
)

export interface Outcome {
  first: HandlerResponse
  redelivered: HandlerResponse
  other: HandlerResponse
  notified: { orderId: string }[]
}

export async function main(): Promise<Outcome> {
  const notifier = new Outbox<{ orderId: string }>('order-confirmations')
  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  const invoke = createHandler(engine, notifier)
  try {
    const first = await invoke({ orderId: 'ORD-7' })
    const redelivered = await invoke({ orderId: 'ORD-7' })
    const other = await invoke({ orderId: 'ORD-8' })
    return { first, redelivered, other, notified: notifier.sent }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { first, redelivered, other, notified } = await main()
  console.log(`ORD-7:             ${JSON.stringify(first)}`)
  console.log(`ORD-7 redelivered: ${JSON.stringify(redelivered)}`)
  console.log(`ORD-8:             ${JSON.stringify(other)}`)
  console.log(`confirmations sent: ${notified.map((n) => n.orderId).join(', ')}`)
}
