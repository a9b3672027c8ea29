/**
 * Pause and signal: an expense waits for a manager's decision, then pays out (or not).
 *
 *   npx tsx examples/approval-signal.ts
 */
import { createWorkflow, Flux, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { Outbox } from './support/messaging.js'

interface Decision {
  approved: boolean
  by: string
}

interface ExpenseData {
  reference: string
  decision: Decision
  paidOut: boolean
}

export interface Outcome {
  waiting: FluxResult<ExpenseData>
  approved: FluxResult<ExpenseData>
  rejected: FluxResult<ExpenseData>
  wrongSignalError: string
  payouts: { employee: string; amountCents: number }[]
}

export async function main(): Promise<Outcome> {
  const bank = new Outbox<{ employee: string; amountCents: number }>('bank')

  const expense = createWorkflow('expense-approval')
    .input<{ employee: string; amountCents: number }>()
    .data<ExpenseData>()
    .step('submit', (ctx) => {
      ctx.data.reference = `EXP-${ctx.id.slice(0, 8)}`
    })
    // Returning Flux.wait suspends the run: it is stored as `suspended` and nothing of it stays
    // in memory, so the approval may come minutes or weeks later, to another process.
    .step('wait-approval', () => Flux.wait('approval-signal'))
    .step('record-decision', (ctx) => {
      // The payload of the signal that woke the run (also the wait step's history output).
      ctx.data.decision = ctx.signals['approval-signal'] as Decision
    })
    .commit(
      'pay-out',
      async (ctx) => {
        await bank.send({ employee: ctx.input.employee, amountCents: ctx.input.amountCents })
        ctx.data.paidOut = true
      },
      { when: (ctx) => ctx.data.decision.approved },
    )

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const waiting = await engine.execute(expense, { employee: 'ada', amountCents: 1_250 })
    // A signal must name what the run waits for; anything else is refused, and the run stays put.
    const wrongSignalError = await engine.signal(expense, waiting.id, 'approval', { approved: true }).then(
      () => 'accepted',
      (error: Error) => error.message,
    )
    // In a web app this is the webhook or the "Approve" button's handler. By default the caller
    // continues the run and gets its result; `{ wait: false }` only stores the signal for a worker.
    const approved = await engine.signal(expense, waiting.id, 'approval-signal', {
      approved: true,
      by: 'grace',
    })

    const other = await engine.execute(expense, { employee: 'bob', amountCents: 9_900 })
    const rejected = await engine.signal(expense, other.id, 'approval-signal', {
      approved: false,
      by: 'grace',
    })
    return { waiting, approved, rejected, wrongSignalError, payouts: bank.sent }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { waiting, approved, rejected, wrongSignalError, payouts } = await main()
  console.log(`after execute: ${waiting.status}, waiting for "${waiting.history[1]?.waitingFor}"`)
  console.log(`wrong signal:  ${wrongSignalError}`)
  console.log(`approved:      ${approved.status}, paid out: ${approved.data.paidOut === true}`)
  console.log(`rejected:      ${rejected.status}, pay-out ${rejected.history[3]?.status}`)
  console.log(`payouts:       ${JSON.stringify(payouts)}`)
}
