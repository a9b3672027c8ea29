/**
 * A queue consumer that hands each message to a workflow (the origin's Kafka sample, without a
 * broker). The message key is the run id, which is what makes redelivery safe:
 * - a message redelivered after its run completed finds that run: nothing runs again;
 * - a message redelivered after its run failed resumes that run at the failed step: the steps
 *   that completed (and, above all, the commit) are not repeated.
 *
 *   npx tsx examples/queue-consumer.ts
 *
 * With kafkajs: `await consumer.run({ eachMessage: createConsumer(flux, orderFlow) })`. A handler
 * that throws leaves the offset uncommitted, so the broker delivers the message again.
 */
import { createWorkflow, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

/** The part of kafkajs's `EachMessagePayload` a consumer reads. */
export interface EachMessagePayload {
  topic: string
  partition: number
  message: { key: Buffer | null; value: Buffer | null; offset: string }
}

interface OrderCreated {
  orderId: string
  userId: string
}

/** A warehouse API that is down for its first `outage` calls. */
class Warehouse {
  calls = 0

  constructor(readonly outage: number) {}

  async reserve(orderId: string): Promise<string> {
    if (++this.calls <= this.outage) throw new Error('warehouse API unavailable')
    return `RES-${orderId}`
  }
}

function orderWorkflow(warehouse: Warehouse, notifier: Outbox<OrderCreated>, log: string[]) {
  return createWorkflow('order-flow')
    .input<OrderCreated>()
    .step('validate', (ctx) => {
      log.push(`validate ${ctx.input.orderId}`)
      ctx.data.validated = true
    })
    .step(
      'reserve',
      async (ctx) => {
        log.push(`reserve ${ctx.input.orderId}`)
        ctx.data.reservation = await warehouse.reserve(ctx.input.orderId)
      },
      { retries: 1, backoff: { initial: 5, jitter: false } },
    )
    .commit('notify', (ctx) => {
      log.push(`notify ${ctx.input.orderId}`)
      return notifier.send(ctx.input)
    })
}

export function createConsumer(flux: FluxEngine, flow: ReturnType<typeof orderWorkflow>) {
  return async ({ message }: EachMessagePayload): Promise<FluxResult> => {
    const runId = message.key?.toString()
    if (!runId) throw new Error('order.created messages must be keyed by order id')
    const payload = JSON.parse(message.value?.toString() ?? '{}') as OrderCreated
    // With the key as id, `execute` never starts a second run for a message; it returns the
    // existing run's result. A run that failed last time is resumed instead, from where it failed.
    const previous = await flux.get(runId)
    const result =
      previous?.status === 'failed'
        ? await flux.resume(flow, runId)
        : await flux.execute(flow, payload, { id: runId })
    if (result?.status !== 'completed') throw new Error(`order ${runId}: ${result?.status}; redeliver later`)
    return result
  }
}

export interface Outcome {
  deliveries: { status: string; detail: string }[]
  log: string[]
  notified: OrderCreated[]
}

export async function main(): Promise<Outcome> {
  // Down long enough to exhaust the reserve step's retries on the first delivery.
  const warehouse = new Warehouse(2)
  const notifier = new Outbox<OrderCreated>('notifications')
  const log: string[] = []
  const flux = new FluxEngine({ logger: new FluxSilentLogger() })
  const eachMessage = createConsumer(flux, orderWorkflow(warehouse, notifier, log))

  const message = (orderId: string, offset: string): EachMessagePayload => ({
    topic: 'order.created',
    partition: 0,
    message: {
      key: Buffer.from(orderId),
      value: Buffer.from(JSON.stringify({ orderId, userId: 'u_1' })),
      offset,
    },
  })
  // The broker's view: a delivery either succeeds (offset committed) or throws (redelivered).
  const deliver = (payload: EachMessagePayload) =>
    eachMessage(payload).then(
      (result) => ({ status: 'ok', detail: result.status }),
      (error: Error) => ({ status: 'error', detail: error.message }),
    )

  try {
    const deliveries = [
      await deliver(message('ORD-001', '0')), // warehouse down: the run fails, the handler throws
      await deliver(message('ORD-001', '0')), // redelivered: resumes at `reserve`, completes
      await deliver(message('ORD-001', '0')), // redelivered again (offset commit lost): no-op
      // During a rebalance two consumers can hold the same message at once: one run, one notify.
      ...(await Promise.all([deliver(message('ORD-002', '1')), deliver(message('ORD-002', '1'))])),
    ]
    return { deliveries, log, notified: notifier.sent }
  } finally {
    await flux.close()
  }
}

if (isMain(import.meta.url)) {
  const { deliveries, log, notified } = await main()
  for (const d of deliveries) console.log(`delivery: ${d.status} (${d.detail})`)
  console.log(`steps run: ${log.join(', ')}`)
  console.log(`notifications: ${notified.map((n) => n.orderId).join(', ')}`)
}
