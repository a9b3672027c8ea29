/**
 * Branching: classify an incoming event, then only the matching branch runs; the others are
 * recorded as `skipped`.
 *
 *   npx tsx examples/branching.ts
 */
import { createWorkflow, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { AuditQueue, autoProcess, classify, type SupportEvent, Ticketing } from './support/desk.js'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

interface RoutingData {
  route: 'auto' | 'manual' | 'risk'
  result?: string
  ticketId?: string
  auditId?: string
}

export interface Outcome {
  results: FluxResult<RoutingData>[]
  tickets: number
  audits: number
  notifications: RoutingData[]
}

export async function main(): Promise<Outcome> {
  const ticketing = new Ticketing()
  const auditQueue = new AuditQueue()
  const notifier = new Outbox<RoutingData>('notifier')

  const flow = createWorkflow('event-routing')
    .input<{ payload: SupportEvent }>()
    .data<RoutingData>()
    .step('classify', (ctx) => {
      ctx.data.route = classify(ctx.input.payload)
    })
    // `when` is evaluated once, when the run reaches the step, and its outcome is recorded: a run
    // recovered after a crash follows the branch it already chose.
    .step(
      'auto-handle',
      async (ctx) => {
        ctx.data.result = await autoProcess(ctx.input.payload)
      },
      { when: (ctx) => ctx.data.route === 'auto' },
    )
    .step(
      'manual-review',
      async (ctx) => {
        ctx.data.ticketId = await ticketing.create(ctx.input.payload)
      },
      { when: (ctx) => ctx.data.route === 'manual' },
    )
    .step(
      'risk-audit',
      async (ctx) => {
        ctx.data.auditId = await auditQueue.enqueue(ctx.input.payload)
      },
      { when: (ctx) => ctx.data.route === 'risk' },
    )
    .commit('notify', async (ctx) => {
      await notifier.send(ctx.data)
    })

  const events: SupportEvent[] = [
    { kind: 'refund', amountCents: 1_500, customer: 'ada' },
    { kind: 'complaint', amountCents: 0, customer: 'bob' },
    { kind: 'chargeback', amountCents: 25_000, customer: 'eve' },
  ]
  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const results: FluxResult<RoutingData>[] = []
    for (const payload of events) results.push(await engine.execute(flow, { payload }))
    return {
      results,
      tickets: ticketing.tickets.length,
      audits: auditQueue.queued.length,
      notifications: notifier.sent,
    }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { results } = await main()
  for (const result of results) {
    const steps = result.history.map((h) => `${h.name}:${h.status}`).join(' ')
    console.log(`${result.data.route.padEnd(6)} ${steps}`)
  }
}
