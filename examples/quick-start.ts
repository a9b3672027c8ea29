/**
 * Quick start: fetch an order, check it, ship it.
 *
 *   npx tsx examples/quick-start.ts        (from the repository root)
 */
import { createWorkflow, Flux, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Carrier, type Order, OrderStore } from './support/orders.js'

interface OrderData {
  order: Order
  tracking: string
}

export interface Outcome {
  paid: FluxResult<OrderData>
  unpaid: FluxResult<OrderData>
  shipped: string[]
}

export async function main(): Promise<Outcome> {
  const db = new OrderStore([
    { id: '123', customer: 'ada', totalCents: 4_200, isPaid: true },
    { id: '124', customer: 'bob', totalCents: 990, isPaid: false },
  ])
  const fulfillment = new Carrier()

  const orderFlow = createWorkflow('order-process')
    .input<{ orderId: string }>()
    .data<OrderData>()
    .step('fetch', async (ctx) => {
      ctx.data.order = await db.find(ctx.input.orderId)
    })
    .step('validate', (ctx) => {
      // A plain `throw` would be retried (3 times by default): right for a flaky network, wrong
      // for a business rule. `Flux.fail` makes the failure final at once.
      if (!ctx.data.order.isPaid) Flux.fail('Unpaid order')
    })
    // Shipping is a side effect, so it is a commit: once it has completed, nothing (a crash, a
    // retry, a resume) runs it again for this run.
    .commit('fulfill', async (ctx) => {
      ctx.data.tracking = (await fulfillment.ship(ctx.data.order)).tracking
    })

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const paid = await engine.execute(orderFlow, { orderId: '123' })
    const unpaid = await engine.execute(orderFlow, { orderId: '124' })
    return { paid, unpaid, shipped: fulfillment.shipments.map((s) => s.orderId) }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { paid, unpaid } = await main()
  console.log(`order 123: ${paid.status}, tracking ${paid.data.tracking}`)
  console.log(`order 124: ${unpaid.status} (${unpaid.error?.message})`)
}
