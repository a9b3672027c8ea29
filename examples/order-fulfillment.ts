/**
 * Order fulfilment: check stock, take the payment (retrying a flaky provider), deduct stock.
 *
 *   npx tsx examples/order-fulfillment.ts
 */
import { createWorkflow, Flux, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Inventory, type LineItem } from './support/orders.js'
import { type Charge, PaymentGateway } from './support/payments.js'

interface OrderInput {
  orderId: string
  amountCents: number
  items: LineItem[]
}

export interface Outcome {
  fulfilled: FluxResult<{ payment: Charge }>
  outOfStock: FluxResult<{ payment: Charge }>
  paymentRequests: number
  charges: Charge[]
  stock: Record<string, number>
}

export async function main(): Promise<Outcome> {
  const inventory = new Inventory({ 'sku-mug': 10, 'sku-tee': 1 })
  // The provider charges the card, then the response is lost: our first attempt sees a timeout.
  const payment = new PaymentGateway({ lostResponses: 1 })

  const orderWorkflow = createWorkflow('order-fulfillment')
    .input<OrderInput>()
    .data<{ payment: Charge }>()
    .step('validate', async (ctx) => {
      for (const item of ctx.input.items) {
        const stock = await inventory.getStock(item.productId)
        if (stock < item.qty) Flux.fail(`Out of stock: ${item.productId}`)
      }
    })
    .step(
      'payment',
      async (ctx) => {
        // A step runs at least once, and here it runs twice (the first response was lost). The
        // idempotency key is the same for every attempt of this step in this run, so the
        // provider recognises the retry and returns the charge it already made.
        ctx.data.payment = await payment.charge(ctx.input.orderId, ctx.input.amountCents, ctx.idempotencyKey)
      },
      // Short backoff so the example finishes at once; the default starts at 1 s.
      { retries: 3, timeout: 30_000, backoff: { initial: 10, jitter: false } },
    )
    .commit('deduct', async (ctx) => {
      await inventory.deduct(ctx.input.items, ctx.idempotencyKey)
    })

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const fulfilled = await engine.execute(orderWorkflow, {
      orderId: 'ORD-1',
      amountCents: 2_500,
      items: [{ productId: 'sku-mug', qty: 2 }],
    })
    const outOfStock = await engine.execute(orderWorkflow, {
      orderId: 'ORD-2',
      amountCents: 4_000,
      items: [{ productId: 'sku-tee', qty: 3 }],
    })
    return {
      fulfilled,
      outOfStock,
      paymentRequests: payment.requests.length,
      charges: payment.charges,
      stock: Object.fromEntries(inventory.stock),
    }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { fulfilled, outOfStock, paymentRequests, charges, stock } = await main()
  const attempts = fulfilled.history.find((h) => h.name === 'payment')?.attempts
  console.log(`ORD-1: ${fulfilled.status}; payment took ${attempts} attempts, ${paymentRequests} requests`)
  console.log(`       cards charged ${charges.length} time(s); stock now ${JSON.stringify(stock)}`)
  console.log(`ORD-2: ${outOfStock.status} (${outOfStock.error?.message})`)
}
