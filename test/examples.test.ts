/**
 * Every example under examples/ runs, and does what its comments say. Each exports `main()`;
 * these tests assert its outcome, including what the in-memory fakes recorded.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { connect } from 'amqplib'
import { afterAll, describe, expect, it } from 'vitest'
import { main as approvalSignal } from '../examples/approval-signal.js'
import { main as azureFunction } from '../examples/azure-function.js'
import { main as branching } from '../examples/branching.js'
import { main as gcpFunction } from '../examples/gcp-function.js'
import { main as httpSignals } from '../examples/http-signals.js'
import { main as imageProcessing } from '../examples/image-processing.js'
import { main as lambdaHandler } from '../examples/lambda-handler.js'
import { main as multiNode } from '../examples/multi-node.js'
import { main as orderFulfillment } from '../examples/order-fulfillment.js'
import { main as queueConsumer } from '../examples/queue-consumer.js'
import { main as quickStart } from '../examples/quick-start.js'
import { AMQP_URL, main as rabbitmqConsumer } from '../examples/rabbitmq-consumer.js'
import { main as reportGeneration } from '../examples/report-generation.js'
import { main as retryStep } from '../examples/retry-step.js'
import { main as saga } from '../examples/saga.js'
import { main as stepOptions } from '../examples/step-options.js'
import { main as traceViewer } from '../examples/trace-viewer.js'

const root = resolve(import.meta.dirname, '..')
const statuses = (history: { name: string; status: string }[]) =>
  Object.fromEntries(history.map((h) => [h.name, h.status]))

/**
 * True when RabbitMQ answers at `AMQP_URL`. Unreachable: false with a loud warning, except under
 * `CI=true`, where it throws: CI must never pass by skipping the broker test.
 */
async function rabbitmqReachable(): Promise<boolean> {
  try {
    const connection = await connect(AMQP_URL, { timeout: 5_000 })
    connection.on('error', () => undefined)
    await connection.close()
    return true
  } catch (error) {
    const message = `RabbitMQ is unreachable at ${AMQP_URL}: ${(error as Error).message}`
    if (process.env.CI === 'true' || process.env.CI === '1')
      throw new Error(`${message}. CI=true: the RabbitMQ example must run, not be skipped.`, { cause: error })
    console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING THE RABBITMQ EXAMPLE — ${message}\n${'!'.repeat(78)}\n`)
    return false
  }
}

/** Whether `queue` still exists on the broker (a passive declare of a missing queue fails with 404). */
async function queueExists(queue: string): Promise<boolean> {
  const connection = await connect(AMQP_URL, { timeout: 5_000 })
  connection.on('error', () => undefined)
  try {
    const channel = await connection.createChannel()
    channel.on('error', () => undefined)
    return await channel.checkQueue(queue).then(
      () => true,
      () => false,
    )
  } finally {
    await connection.close()
  }
}

describe('examples', () => {
  it('quick-start: ships a paid order once; an unpaid order fails at once, unshipped', async () => {
    const { paid, unpaid, shipped } = await quickStart()
    expect(paid.status).toBe('completed')
    expect(paid.data).toEqual({
      order: { id: '123', customer: 'ada', totalCents: 4_200, isPaid: true },
      tracking: 'TRK-0001',
    })
    expect(unpaid.status).toBe('failed')
    expect(unpaid.error?.message).toBe('Unpaid order')
    expect(statuses(unpaid.history)).toEqual({ fetch: 'completed', validate: 'failed', fulfill: 'pending' })
    expect(unpaid.history[1]!.attempts).toBe(1)
    expect(shipped).toEqual(['123'])
  })

  it('quick-start runs as a real process, importing `fluxflow` by name', async () => {
    expect(existsSync(join(root, 'node_modules', 'tsx'))).toBe(true)
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'examples/quick-start.ts'],
      { cwd: root, encoding: 'utf8' },
    )
    expect(stdout).toBe('order 123: completed, tracking TRK-0001\norder 124: failed (Unpaid order)\n')
  })

  it('order-fulfillment: a retried payment charges once (idempotency key); out of stock fails first', async () => {
    const { fulfilled, outOfStock, paymentRequests, charges, stock } = await orderFulfillment()
    expect(fulfilled.status).toBe('completed')
    expect(fulfilled.data.payment).toEqual({ id: 'ch_1', orderId: 'ORD-1', amountCents: 2_500 })
    expect(fulfilled.history[1]).toMatchObject({
      name: 'payment',
      status: 'completed',
      attempts: 2,
      retries: 1,
    })
    expect(paymentRequests).toBe(2)
    expect(charges).toHaveLength(1)
    expect(outOfStock.status).toBe('failed')
    expect(outOfStock.error?.message).toBe('Out of stock: sku-tee')
    expect(statuses(outOfStock.history)).toEqual({
      validate: 'failed',
      payment: 'pending',
      deduct: 'pending',
    })
    expect(stock).toEqual({ 'sku-mug': 8, 'sku-tee': 1 })
  })

  it('image-processing: uploads a thumbnail; a file over 10 MB is refused before any upload', async () => {
    const { accepted, rejected, uploaded } = await imageProcessing()
    expect(accepted.status).toBe('completed')
    expect(accepted.data.url).toBe('https://avatars.s3.example.com/u_1/me.png')
    expect(accepted.data.thumbnail).toBeInstanceOf(Uint8Array)
    expect(accepted.data.thumbnail.length).toBe(800)
    expect(rejected.status).toBe('failed')
    expect(rejected.error?.message).toBe('File size exceeds 10MB')
    expect(uploaded).toEqual(['u_1/me.png'])
  })

  it('report-generation: aggregates the quarter, uploads the PDF under the run id', async () => {
    const { result, uploaded, pdfText } = await reportGeneration()
    expect(result.status).toBe('completed')
    expect(result.id).toBe('sales-2025-q1')
    expect(result.data.sales.map((s) => s.orderId)).toEqual(['A', 'B', 'C'])
    expect(result.data.sales[0]!.at).toBeInstanceOf(Date)
    expect(result.data.metrics).toEqual({ revenueCents: 21_000, orders: 3, averageCents: 7_000 })
    expect(result.data.url).toBe('https://reports.s3.example.com/reports/sales-2025-q1.pdf')
    expect(uploaded).toEqual(['reports/sales-2025-q1.pdf'])
    expect(pdfText).toBe(
      '%PDF-1.7\nsales report for finance@example.com\norders: 3\nrevenue: 21000\naverage: 7000\n%%EOF',
    )
  })

  it('step-options: backoff between retries, a timeout retried, when, and retryIf making a 404 final', async () => {
    const { known, ghost, apiCalls, retries } = await stepOptions()
    expect(known.status).toBe('completed')
    expect(known.history.map((h) => [h.name, h.status, h.attempts])).toEqual([
      ['fetch-profile', 'completed', 3],
      ['score', 'completed', 2],
      ['vip-perks', 'skipped', 0],
      ['starter-perks', 'completed', 1],
    ])
    expect(known.data).toEqual({ profile: { name: 'Ada', orders: 12 }, score: 84, perks: ['welcome-coupon'] })
    expect(retries).toEqual([
      { step: 'fetch-profile', attempt: 1, delay: 10 },
      { step: 'fetch-profile', attempt: 2, delay: 20 },
      { step: 'score', attempt: 1, delay: 5 },
    ])
    expect(ghost.status).toBe('failed')
    expect(ghost.error?.message).toBe('404 no user ghost')
    expect(ghost.history[0]).toMatchObject({ status: 'failed', attempts: 1, retries: 0 })
    expect(apiCalls).toBe(4)
  })

  it('approval-signal: suspends, refuses the wrong signal, pays out only when approved', async () => {
    const { waiting, approved, rejected, wrongSignalError, payouts } = await approvalSignal()
    expect(waiting.status).toBe('suspended')
    expect(waiting.history[1]).toMatchObject({ status: 'suspended', waitingFor: 'approval-signal' })
    expect(wrongSignalError).toBe('Workflow waiting for signal "approval-signal", received "approval"')
    expect(approved.status).toBe('completed')
    expect(approved.id).toBe(waiting.id)
    expect(approved.data.decision).toEqual({ approved: true, by: 'grace' })
    expect(approved.data.paidOut).toBe(true)
    expect(approved.history[1]).toMatchObject({
      status: 'completed',
      output: { approved: true, by: 'grace' },
    })
    expect(rejected.status).toBe('completed')
    expect(statuses(rejected.history)['pay-out']).toBe('skipped')
    expect(payouts).toEqual([{ employee: 'ada', amountCents: 1_250 }])
  })

  it('saga: compensates in reverse; a failing compensation ends compensation_failed; resume finishes', async () => {
    const { rolledBack, rolledBackLog, stuck, stuckState, stuckLog, finished } = await saga()
    expect(rolledBack.status).toBe('rolled_back')
    expect(rolledBack.error?.message).toBe('No cars available')
    expect(rolledBackLog).toEqual([
      'book flight FL-1',
      'book hotel HT-2',
      'car: none available',
      'cancel HT-2',
      'cancel FL-1',
    ])
    expect(statuses(rolledBack.history)).toEqual({
      'reserve-flight': 'compensated',
      'reserve-hotel': 'compensated',
      'rent-car': 'failed',
    })

    expect(stuck.status).toBe('compensation_failed')
    // Retried with the step's policy (2 retries), then the walk stopped: the flight was not touched.
    expect(stuckLog.slice(3)).toEqual(['cancel HT-2: failed', 'cancel HT-2: failed', 'cancel HT-2: failed'])
    expect(statuses(stuck.history)).toEqual({
      'reserve-flight': 'completed',
      'reserve-hotel': 'compensating',
      'rent-car': 'failed',
    })
    expect(stuckState?.pendingCompensations).toEqual(['reserve-hotel', 'reserve-flight'])

    expect(finished?.status).toBe('rolled_back')
    expect(statuses(finished!.history)).toEqual({
      'reserve-flight': 'compensated',
      'reserve-hotel': 'compensated',
      'rent-car': 'failed',
    })
  })

  it('retry-step: retries the failed charge; a completed commit is not re-run unless recommit', async () => {
    const { first, retried, retriedAgain, recommitted, paymentRequests, charges, shipments } =
      await retryStep()
    const id = first.id
    expect(first.status).toBe('failed')
    expect(first.error?.message).toBe('payment provider unavailable (503)')
    expect(statuses(first.history)).toEqual({ validate: 'completed', charge: 'failed', ship: 'pending' })

    expect(retried?.status).toBe('completed')
    expect(retried?.data.charge.id).toBe('ch_1')
    expect(retriedAgain?.status).toBe('completed')
    expect(retriedAgain?.data.charge.id).toBe('ch_1')
    expect(recommitted?.status).toBe('completed')
    expect(recommitted?.data.charge.id).toBe('ch_2')
    expect(recommitted?.data.chargeKey).toBe(`${id}:charge:1`)
    // `validate` ran once: retrying from `charge` starts there.
    expect(recommitted?.data.validated).toBe(1)

    // Two refused requests, the retry, nothing for the second retryStep, then the recommit.
    expect(paymentRequests).toEqual([`${id}:charge`, `${id}:charge`, `${id}:charge`, `${id}:charge:1`])
    expect(charges.map((c) => c.id)).toEqual(['ch_1', 'ch_2'])
    expect(shipments).toBe(3)
  })

  it('branching: only the matching branch runs, the others are skipped', async () => {
    const { results, tickets, audits, notifications } = await branching()
    expect(results.map((r) => r.status)).toEqual(['completed', 'completed', 'completed'])
    expect(results.map((r) => statuses(r.history))).toEqual([
      {
        classify: 'completed',
        'auto-handle': 'completed',
        'manual-review': 'skipped',
        'risk-audit': 'skipped',
        notify: 'completed',
      },
      {
        classify: 'completed',
        'auto-handle': 'skipped',
        'manual-review': 'completed',
        'risk-audit': 'skipped',
        notify: 'completed',
      },
      {
        classify: 'completed',
        'auto-handle': 'skipped',
        'manual-review': 'skipped',
        'risk-audit': 'completed',
        notify: 'completed',
      },
    ])
    expect([tickets, audits]).toEqual([1, 1])
    expect(notifications).toEqual([
      { route: 'auto', result: 'refunded 1500 to ada' },
      { route: 'manual', ticketId: 'TCK-1' },
      { route: 'risk', auditId: 'AUD-1' },
    ])
  })

  it('multi-node: each message goes to its channel only; every run is audited once', async () => {
    const { results, sent, audit } = await multiNode()
    expect(results.map((r) => r.status)).toEqual(['completed', 'completed', 'completed'])
    expect(results.map((r) => r.history.filter((h) => h.status === 'skipped').map((h) => h.name))).toEqual([
      ['send-slack', 'call-webhook'],
      ['send-email', 'call-webhook'],
      ['send-email', 'send-slack'],
    ])
    expect(sent).toEqual({
      email: [{ to: 'ada@example.com', subject: 'Welcome' }],
      slack: [{ channel: '#ops', text: 'Deploy done' }],
      webhook: [{ url: 'https://hooks.example.com/x', body: 1 }],
    })
    expect(audit).toEqual(results.map((r) => ({ run: r.id, route: r.data.route })))
  })

  describe('trace-viewer', () => {
    let dir: string | undefined
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('writes one NDJSON line per event, starting afresh with reset', async () => {
      dir = await mkdtemp(join(tmpdir(), 'flux-examples-'))
      const path = join(dir, 'nested', 'trace.ndjson')
      await traceViewer(path)
      const { result, lines, events } = await traceViewer(path) // reset: not 30 lines
      expect(result.status).toBe('completed')
      expect(lines).toBe(15)
      expect(events).toEqual([
        'workflow:start',
        'step:start',
        'step:retry',
        'step:start',
        'step:complete',
        'step:start',
        'step:suspend',
        'workflow:suspend',
        'signal:received',
        'workflow:resume',
        'step:complete',
        'step:skipped',
        'step:start',
        'step:complete',
        'workflow:complete',
      ])
    })
  })

  it('lambda-handler: the same event twice is one run and one notification', async () => {
    const { first, redelivered, other, notified } = await lambdaHandler()
    expect(first).toEqual({ status: 'completed', id: 'order-ORD-7' })
    expect(redelivered).toEqual(first)
    expect(other).toEqual({ status: 'completed', id: 'order-ORD-8' })
    expect(notified).toEqual([{ orderId: 'ORD-7' }, { orderId: 'ORD-8' }])
  })

  it('gcp-function: 200 twice for one order (one notification), 400 for a bad body, 405 for GET', async () => {
    const { responses, notified } = await gcpFunction()
    expect(responses).toEqual([
      { status: 200, body: { status: 'completed', id: 'order-ORD-1' } },
      { status: 200, body: { status: 'completed', id: 'order-ORD-1' } },
      { status: 400, body: { error: expect.stringContaining('Invalid input') } },
      { status: 405, body: { error: 'POST only' } },
    ])
    expect(notified).toEqual([{ orderId: 'ORD-1' }])
  })

  it('http-signals: a webhook starts one run per key; signals over HTTP map to 200/401/409', async () => {
    const { exchanges, refunds } = await httpSignals()
    expect(exchanges.map((e) => [e.request.replace(/\?.*$/, ''), e.status])).toEqual([
      ['POST /workflows/refund/runs', 200],
      ['POST /workflows/refund/runs', 202],
      ['POST /workflows/refund/runs', 400],
      ['GET /runs/refund%2FORD-7', 200],
      ['POST /runs/refund%2FORD-7/signals/reject', 409],
      ['POST /runs/refund%2FORD-7/signals/approve', 401],
      ['POST /runs/refund%2FORD-7/signals/approve', 200],
      ['POST /runs/refund%2FORD-7/signals/approve', 409],
    ])
    expect(exchanges[0]!.body).toMatchObject({
      id: 'refund/ORD-7',
      status: 'suspended',
      waitingFor: 'approve',
    })
    expect(exchanges[1]!.body).toEqual({ id: 'refund/ORD-7' })
    expect(exchanges[3]!.body).toMatchObject({ id: 'refund/ORD-7', name: 'refund', status: 'suspended' })
    expect(exchanges[6]!.body).toMatchObject({ status: 'completed', data: { approvedBy: 'ada' } })
    expect(refunds).toEqual([{ orderId: 'ORD-7', amountCents: 1_500 }])
  })

  it('azure-function: v3 context.res and v4 response share one idempotent run per order', async () => {
    const { v3, v4, notified } = await azureFunction()
    const json = { 'content-type': 'application/json' }
    expect(v3).toEqual([
      { status: 200, body: { status: 'completed', id: 'order-ORD-1' }, headers: json },
      { status: 200, body: { status: 'completed', id: 'order-ORD-1' }, headers: json },
      { status: 400, body: { error: expect.stringContaining('Invalid input') }, headers: json },
    ])
    expect(v4).toEqual([
      { status: 200, jsonBody: { status: 'completed', id: 'order-ORD-1' } },
      { status: 200, jsonBody: { status: 'completed', id: 'order-ORD-2' } },
    ])
    expect(notified).toEqual([{ orderId: 'ORD-1' }, { orderId: 'ORD-2' }])
  })

  it('queue-consumer: redelivery resumes a failed run at its failed step and never repeats the commit', async () => {
    const { deliveries, log, notified } = await queueConsumer()
    expect(deliveries).toEqual([
      { status: 'error', detail: 'order ORD-001: failed; redeliver later' },
      { status: 'ok', detail: 'completed' },
      { status: 'ok', detail: 'completed' },
      { status: 'ok', detail: 'completed' },
      { status: 'ok', detail: 'completed' },
    ])
    expect(log).toEqual([
      'validate ORD-001',
      'reserve ORD-001', // warehouse down
      'reserve ORD-001', // its one retry: still down, the run fails
      'reserve ORD-001', // redelivery resumes here; validate is not re-run
      'notify ORD-001',
      'validate ORD-002', // delivered to two consumers at once: one run
      'reserve ORD-002',
      'notify ORD-002',
    ])
    expect(notified).toEqual([
      { orderId: 'ORD-001', userId: 'u_1' },
      { orderId: 'ORD-002', userId: 'u_1' },
    ])
  })

  it('rabbitmq-consumer: on a real broker, a duplicate, a nack and a death before ack all charge and email once', async (ctx) => {
    if (!(await rabbitmqReachable())) ctx.skip(`RabbitMQ unreachable at ${AMQP_URL}`)
    const s = await rabbitmqConsumer()
    const ids = ['ORD-1', 'ORD-2', 'ORD-3', 'ORD-4', 'ORD-5', 'ORD-6']
    const once = Object.fromEntries(ids.map((id) => [id, 1]))
    expect(s.exactlyOnce).toEqual({
      everyOrderChargedOnce: true,
      everyEmailSentOnce: true,
      duplicatePublishIsOneRun: true,
      redeliveryAfterCompletionRanNothing: true,
    })
    expect(s.effects.charges).toEqual(once)
    expect(s.effects.emails).toEqual(once)
    expect(s.effects.stockReserved).toEqual(once)
    // ORD-2's charge went through but its response was lost: the resumed commit asked again with
    // the same idempotency key and got the same charge.
    expect(s.effects.chargeRequests).toEqual({ ...once, 'ORD-2': 2 })
    expect(s.runsStarted).toEqual(once)
    expect(s.runs).toEqual(Object.fromEntries(ids.map((id) => [id, 'completed'])))

    const of = (id: string) => s.deliveries.filter((d) => d.runId === id).map(({ runId: _, ...rest }) => rest)
    expect(of('ORD-2')).toEqual([
      {
        consumer: 'consumer-1',
        redelivered: false,
        found: null,
        call: 'execute',
        status: 'failed',
        outcome: 'nack',
      },
      {
        consumer: 'consumer-1',
        redelivered: true,
        found: 'failed',
        call: 'resume',
        status: 'completed',
        outcome: 'ack',
      },
    ])
    // Published twice back to back: both copies in flight at once, both acked, one run.
    expect(of('ORD-3')).toHaveLength(2)
    expect(of('ORD-3').map((d) => [d.redelivered, d.call, d.status, d.outcome])).toEqual([
      [false, 'execute', 'completed', 'ack'],
      [false, 'execute', 'completed', 'ack'],
    ])
    expect(of('ORD-6')).toEqual([
      {
        consumer: 'consumer-2',
        redelivered: false,
        found: null,
        call: 'execute',
        status: 'completed',
        outcome: 'died',
      },
      {
        consumer: 'consumer-3',
        redelivered: true,
        found: 'completed',
        call: 'execute',
        status: 'completed',
        outcome: 'ack',
      },
    ])
    expect(s.crash.newEffects).toBe(0)
    expect(s.deliveries).toHaveLength(9)
    expect(s.leftInQueue).toBe(0)
    expect(await queueExists(s.queue)).toBe(false)
  })
})
