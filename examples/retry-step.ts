/**
 * Retrying a step: a payment outage fails the run; once the provider is back, an operator
 * retries from the charge. A completed commit is never run again, unless asked explicitly.
 *
 *   npx tsx examples/retry-step.ts
 */
import { createWorkflow, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Carrier } from './support/orders.js'
import { type Charge, PaymentGateway } from './support/payments.js'

interface CheckoutData {
  validated: number
  charge: Charge
  chargeKey: string
  tracking: string
}

export interface Outcome {
  first: FluxResult<CheckoutData>
  retried: FluxResult<CheckoutData> | null
  retriedAgain: FluxResult<CheckoutData> | null
  recommitted: FluxResult<CheckoutData> | null
  paymentRequests: string[]
  charges: Charge[]
  shipments: number
}

export async function main(): Promise<Outcome> {
  // Down for the first two requests: the charge's one retry is not enough.
  const payment = new PaymentGateway({ outages: 2 })
  const carrier = new Carrier()

  const flow = createWorkflow('checkout')
    .input<{ orderId: string; amountCents: number }>()
    .data<CheckoutData>()
    .step('validate', (ctx) => {
      ctx.data.validated = (ctx.data.validated ?? 0) + 1
    })
    // A commit: once it completes, its outcome is recorded and it is skipped from then on. The
    // idempotency key covers the remaining gap, a crash while the charge is in flight: the
    // re-run carries the same key, and the provider answers with the charge it already made.
    .commit(
      'charge',
      async (ctx) => {
        ctx.data.charge = await payment.charge(ctx.input.orderId, ctx.input.amountCents, ctx.idempotencyKey)
        ctx.data.chargeKey = ctx.idempotencyKey
      },
      { retries: 1, backoff: { initial: 5, jitter: false } },
    )
    .step('ship', async (ctx) => {
      ctx.data.tracking = (await carrier.ship({ id: ctx.input.orderId })).tracking
    })

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const first = await engine.execute(flow, { orderId: 'ORD-001', amountCents: 3_000 })

    // The provider is back: retry from the failed step. `validate` is not re-run.
    payment.recover()
    const retried = await engine.retryStep(flow, first.id, 'charge')

    // Retrying from the charge again (say, to re-ship) keeps the recorded charge: no second payment.
    const retriedAgain = await engine.retryStep(flow, first.id, 'charge')

    // Charging again is a deliberate act (say, after a refund): `recommit` runs the commit with a
    // new idempotency key, so the provider treats it as a new charge.
    const recommitted = await engine.retryStep(flow, first.id, 'charge', { recommit: true })

    return {
      first,
      retried,
      retriedAgain,
      recommitted,
      paymentRequests: payment.requests,
      charges: payment.charges,
      shipments: carrier.shipments.length,
    }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { first, retried, retriedAgain, recommitted, charges } = await main()
  console.log(`execute:                 ${first.status} (${first.error?.message})`)
  console.log(`retryStep charge:        ${retried?.status}, ${retried?.data.charge.id}`)
  console.log(`retryStep charge again:  ${retriedAgain?.status}, still ${retriedAgain?.data.charge.id}`)
  console.log(`retryStep with recommit: ${recommitted?.status}, ${recommitted?.data.charge.id}`)
  console.log(`charges made: ${charges.map((c) => c.id).join(', ')}`)
}
