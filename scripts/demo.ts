/**
 * `npm run demo`: a durable order workflow on embedded SQLite (./data/flux.db).
 *
 * It places an order, which charges the card (a commit), then suspends waiting for a manager's
 * approval signal; the demo sends the signal; the run ships and completes. Every step is
 * checkpointed in SQLite and traced to ./data/trace.ndjson. Run it again: the runs of earlier
 * invocations are still in the database.
 */
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { createWorkflow, Flux, FluxEngine, FluxSilentLogger, JsonFileTraceSink } from '../src/index.js'
import { SqliteStorage } from '../src/sqlite.js'

const dataDir = resolve(process.env.FLUX_DEMO_DIR ?? './data')
mkdirSync(dataDir, { recursive: true })
const dbPath = resolve(dataDir, 'flux.db')
const tracePath = resolve(dataDir, 'trace.ndjson')

interface Order {
  orderId: string
  sku: string
  qty: number
  cents: number
}

const charges: string[] = []

const order = createWorkflow('demo-order')
  .input<Order>()
  .data<{ reserved?: boolean; chargeId?: string; approvedBy?: string; trackingNo?: string }>()
  .step('reserve-stock', (ctx) => {
    ctx.data.reserved = true
  })
  .commit('charge-card', (ctx) => {
    // A commit runs once per run, even across crashes; the key lets the payment API dedupe a retry.
    charges.push(ctx.idempotencyKey)
    ctx.data.chargeId = `ch_${ctx.input.orderId}`
  })
  .step('await-approval', () => Flux.wait('approved', { timeout: 24 * 3600_000 }))
  .step('ship', (ctx) => {
    const approval = ctx.signals.approved as { by: string }
    ctx.data.approvedBy = approval.by
    ctx.data.trackingNo = `TRK-${ctx.input.orderId}`
  })

const storage = new SqliteStorage({ path: dbPath })
const engine = new FluxEngine({
  storage,
  logger: new FluxSilentLogger(),
  trace: new JsonFileTraceSink({ path: tracePath }),
  workflows: [order],
})

const orderId = `A-${Date.now().toString(36)}`
console.log(`fluxflow demo — SQLite at ${dbPath}\n`)

const before = await engine.list({ name: 'demo-order' })
console.log(`runs already in the database: ${before.length}`)

const first = await engine.execute(
  order,
  { orderId, sku: 'espresso-machine', qty: 1, cents: 24900 },
  { id: `order-${orderId}` },
)
console.log(`\n1. placed order ${orderId}: run ${first.id} is ${first.status}`)
for (const step of first.history)
  console.log(
    `   ${step.name.padEnd(15)} ${step.status}${step.waitingFor ? ` (waiting for "${step.waitingFor}")` : ''}`,
  )

const done = await engine.signal(order, first.id, 'approved', { by: 'manager@shop.test' })
console.log(`\n2. signalled "approved": run is ${done.status}`)
for (const step of done.history) console.log(`   ${step.name.padEnd(15)} ${step.status}`)
console.log(`   data: ${JSON.stringify(done.data)}`)

const again = await engine.execute(
  order,
  { orderId, sku: 'espresso-machine', qty: 1, cents: 24900 },
  { id: `order-${orderId}` },
)
console.log(
  `\n3. same order id again: ${again.status}, card charged ${charges.length} time(s) in this process`,
)

const after = await engine.list({ name: 'demo-order', limit: 5 })
console.log(`\nruns in the database now: ${before.length + 1} (newest first):`)
for (const run of after) console.log(`   ${run.id}  ${run.status.padEnd(10)} ${run.createdAt.toISOString()}`)

await engine.close()
console.log(`\ntrace written to ${tracePath}`)
console.log(`look at it live: npx flux dev --trace ${tracePath}   (or: npx flux dev --db ${dbPath})`)
