/**
 * Local trace viewing: write every engine event to an NDJSON file, then browse it with
 *
 *   npx tsx examples/trace-viewer.ts
 *   npx flux dev --trace ./.flux/trace.ndjson      (opens the viewer on http://127.0.0.1:4280)
 */
import { readFile } from 'node:fs/promises'
import {
  createWorkflow,
  Flux,
  FluxEngine,
  type FluxResult,
  FluxSilentLogger,
  type FluxTraceEvent,
  JsonFileTraceSink,
} from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

export interface Outcome {
  path: string
  result: FluxResult
  lines: number
  events: FluxTraceEvent['type'][]
}

interface Signup {
  email: string
  plan: 'free' | 'pro'
}

export async function main(path = './.flux/trace.ndjson'): Promise<Outcome> {
  const mail = new Outbox<{ to: string; template: string }>('email')
  let accountApiCalls = 0

  const onboarding = createWorkflow('onboarding')
    .input<Signup>()
    .step(
      'create-account',
      (ctx) => {
        // Fails once, so the trace shows a retry.
        if (++accountApiCalls === 1) throw new Error('accounts API: connection reset')
        ctx.data.accountId = 'acc_1'
      },
      { retries: 2, backoff: { initial: 5, jitter: false } },
    )
    .step('verify-email', () => Flux.wait('email-verified'))
    .step('pro-setup', (ctx) => void (ctx.data.workspace = 'pro'), {
      when: (ctx) => ctx.input.plan === 'pro',
    })
    .commit('welcome', (ctx) => mail.send({ to: ctx.input.email, template: 'welcome' }))

  // `reset: true` starts the file afresh each run; missing folders are created.
  const trace = new JsonFileTraceSink({ path, reset: true })
  const engine = new FluxEngine({ logger: new FluxSilentLogger(), trace })
  let result: FluxResult
  try {
    const ada: Signup = { email: 'ada@example.com', plan: 'free' }
    const { id } = await engine.execute(onboarding, ada)
    result = await engine.signal(onboarding, id, 'email-verified', { at: '2025-05-01' })
  } finally {
    await engine.close()
    // The engine does not own the sink: close it to flush and release the file.
    await trace.close()
  }
  const lines = (await readFile(path, 'utf8')).trim().split('\n')
  const events = lines.map((line) => (JSON.parse(line) as FluxTraceEvent).type)
  return { path, result, lines: lines.length, events }
}

if (isMain(import.meta.url)) {
  const { path, result, lines } = await main()
  console.log(`onboarding ${result.id}: ${result.status}`)
  console.log(`${lines} trace events written to ${path}`)
  console.log(`view them: npx flux dev --trace ${path}`)
}
