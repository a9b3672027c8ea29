/**
 * Multi-node routing in the style of n8n: one workflow, one node per channel, and a final audit.
 *
 *   npx tsx examples/multi-node.ts
 */
import { createWorkflow, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { AuditLog, Outbox } from './support/messaging.js'

type Channel = 'email' | 'slack' | 'webhook'

interface NodeInput {
  type: Channel
  payload: unknown
}

export interface Outcome {
  results: FluxResult<{ route: Channel }>[]
  sent: Record<Channel, unknown[]>
  audit: unknown[]
}

export async function main(): Promise<Outcome> {
  const email = new Outbox('email')
  const slack = new Outbox('slack')
  const webhook = new Outbox('webhook')
  const audit = new AuditLog()

  const flow = createWorkflow('multi-node')
    .input<NodeInput>()
    .data<{ route: Channel }>()
    .step('classify', (ctx) => {
      ctx.data.route = ctx.input.type
    })
    .step('send-email', (ctx) => email.send(ctx.input.payload), {
      when: (ctx) => ctx.data.route === 'email',
    })
    .step('send-slack', (ctx) => slack.send(ctx.input.payload), {
      when: (ctx) => ctx.data.route === 'slack',
    })
    .step('call-webhook', (ctx) => webhook.send(ctx.input.payload), {
      when: (ctx) => ctx.data.route === 'webhook',
    })
    // The audit record is written once per run whatever happens later: a commit.
    .commit('audit', (ctx) => audit.save({ run: ctx.id, ...ctx.data }))

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const inputs: NodeInput[] = [
      { type: 'email', payload: { to: 'ada@example.com', subject: 'Welcome' } },
      { type: 'slack', payload: { channel: '#ops', text: 'Deploy done' } },
      { type: 'webhook', payload: { url: 'https://hooks.example.com/x', body: 1 } },
    ]
    const results: FluxResult<{ route: Channel }>[] = []
    for (const input of inputs) results.push(await engine.execute(flow, input))
    return {
      results,
      sent: { email: email.sent, slack: slack.sent, webhook: webhook.sent },
      audit: audit.entries,
    }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { results } = await main()
  for (const result of results) {
    const ran = result.history.filter((h) => h.status === 'completed').map((h) => h.name)
    const skipped = result.history.filter((h) => h.status === 'skipped').map((h) => h.name)
    console.log(`${result.data.route.padEnd(8)} ran: ${ran.join(', ')}; skipped: ${skipped.join(', ')}`)
  }
}
