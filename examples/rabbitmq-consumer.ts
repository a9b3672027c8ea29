/**
 * A RabbitMQ consumer with exactly-once effects under redelivery: each order message runs an
 * order workflow (reserve stock → charge the card → email a confirmation) on SQLite, with the
 * message's `messageId` as the run id.
 *
 *   AMQP_URL=amqp://guest:guest@127.0.0.1:5672 npx tsx examples/rabbitmq-consumer.ts
 *
 * Why redelivery is safe. RabbitMQ delivers at least once: a message comes again when the
 * producer publishes it twice, when the consumer nacks it, and when the consumer's connection
 * drops before its ack (the process died). Every one of those deliveries carries the same
 * `messageId`, so every one maps to the same run. Creating a run is insert-if-absent in the store
 * (the first writer wins), so one key never has two runs, and that run's checkpoints say what it
 * has already done. The consumer acks only once the run is at rest in the store:
 * - `execute(flow, input, { id })` for an id that exists starts nothing: it waits for that run to
 *   be at rest and returns its stored result. A completed run: nothing runs again; the redelivered
 *   message is simply acked. A run whose owner died mid-run (lease released or expired): it is
 *   taken over and continued from its last checkpoint (once its lease expires, 30 s by default,
 *   if the owner could not release it). Two copies in flight at once both call `execute`: one
 *   creates the run, the other finds it and waits for its result. A failed run: its failed
 *   result, as is;
 * - so a run found `failed` is `resume`d instead: it continues at the step that failed, and the
 *   steps that completed are not run again.
 *
 * What is exactly-once, and what is not:
 * - `charge-payment` is a commit: its start is recorded durably before the handler runs, and a
 *   completed commit is never run again (not by redelivery, not by resume). The one gap left is
 *   a charge in flight when the process dies or the call fails (ORD-2 below: the provider charged
 *   the card, then the response was lost): the commit runs again with the same
 *   `ctx.idempotencyKey` (`<run id>:charge-payment`), and the provider answers with the charge it
 *   already made. Checkpoint plus provider-side key: the card is charged exactly once.
 * - `reserve-stock` and `send-confirmation` are plain steps: at least once. Their checkpoint is
 *   written after the handler returns; a process that dies between the effect and the checkpoint
 *   runs the step again on redelivery. They happen once here because no process dies mid-step;
 *   in production give them a key too (the warehouse and the mail API take one) or make them
 *   commits.
 *
 * Production notes: declare the queue durable and publish persistent messages; use a quorum
 * queue with `x-delivery-limit` and a dead-letter exchange, so a run that keeps failing stops
 * being redelivered. This demo's queue is non-durable and expires when unused, but it is not
 * `autoDelete`: that would delete it when the dying consumer's subscription ends, and with it
 * the very message the broker is about to redeliver.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Channel, type ChannelModel, type ConsumeMessage, connect } from 'amqplib'
import {
  createWorkflow,
  FluxEngine,
  type FluxResult,
  FluxSilentLogger,
  type FluxTraceEvent,
  type WorkflowStatus,
} from 'fluxflow'
import { SqliteStorage } from 'fluxflow/sqlite'
import { EffectsLog, Mailer, PaymentApi, Warehouse } from './support/effects-log.js'
import { isMain } from './support/is-main.js'

/** The broker; RabbitMQ's default account on this machine unless `AMQP_URL` says otherwise. */
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'

/** The body of an order message; its `messageId` is the order id. */
export interface OrderMessage {
  orderId: string
  sku: string
  qty: number
  amountCents: number
  email: string
}

interface OrderData {
  reservation: string
  chargeId: string
}

export function orderWorkflow(warehouse: Warehouse, payments: PaymentApi, mailer: Mailer) {
  return createWorkflow('rabbitmq-order')
    .input<OrderMessage>()
    .data<OrderData>()
    .step('reserve-stock', async (ctx) => {
      ctx.data.reservation = await warehouse.reserve(ctx.input.orderId, ctx.input.sku, ctx.input.qty)
    })
    .commit(
      'charge-payment',
      async (ctx) => {
        const charge = await payments.charge(ctx.input.orderId, ctx.input.amountCents, ctx.idempotencyKey)
        ctx.data.chargeId = charge.id
      },
      // No retry in the run: a failed charge fails the run, so the broker's redelivery is what
      // retries it (the point of this demo).
      { retries: 0 },
    )
    .step('send-confirmation', async (ctx) => {
      await mailer.send(ctx.input.orderId, ctx.input.email)
    })
}

export type OrderFlow = ReturnType<typeof orderWorkflow>

/**
 * Hands one message to the workflow: a failed run is resumed at its failed step; anything else
 * goes to `execute`, which never starts a second run for an id (see the header).
 */
export async function handleOrder(
  engine: FluxEngine,
  flow: OrderFlow,
  runId: string,
  input: OrderMessage,
): Promise<{ found: WorkflowStatus | null; call: 'execute' | 'resume'; result: FluxResult<OrderData> }> {
  const found = (await engine.get(runId))?.status ?? null
  if (found === 'failed') {
    // Two consumers holding the same failed message at once: the second one's resume throws
    // (the run is claimed), its message is nacked and finds the run completed next time.
    const result = await engine.resume(flow, runId)
    if (result) return { found, call: 'resume', result }
  }
  return { found, call: 'execute', result: await engine.execute(flow, input, { id: runId }) }
}

/** One delivery as a consumer saw and settled it. */
export interface Delivery {
  consumer: string
  runId: string
  redelivered: boolean
  /** The run's status when the message arrived; null: no run yet. */
  found: WorkflowStatus | null
  call: 'execute' | 'resume' | 'none'
  /** The run's status once at rest, or why the message could not be handled. */
  status: string
  /** `died`: the consumer's connection was closed with the message unacked. */
  outcome: 'ack' | 'nack' | 'reject' | 'died'
}

export interface ConsumerOptions {
  name: string
  url: string
  queue: string
  engine: FluxEngine
  flow: OrderFlow
  /** Unacked messages the broker hands this consumer at once. Default 4. */
  prefetch?: number
  /** A pause before a nack, so a run that keeps failing is not redelivered in a hot loop. Default 20 ms. */
  nackDelayMs?: number
  /** Crash simulation: after this message's run is at rest, close the connection instead of acking. */
  dieBeforeAck?: (runId: string) => boolean
}

interface Waiter {
  check: () => void
  fail: (error: Error) => void
}

/** A consumer with manual acks: ack once the run completed, nack (requeue) when it failed. */
export class OrderConsumer {
  readonly deliveries: Delivery[] = []
  readonly #options: ConsumerOptions
  readonly #connection: ChannelModel
  readonly #channel: Channel
  readonly #inFlight = new Set<Promise<void>>()
  readonly #waiters = new Set<Waiter>()
  #tag: string | undefined
  #closing = false
  #stopped: Promise<void> | undefined

  private constructor(options: ConsumerOptions, connection: ChannelModel, channel: Channel) {
    this.#options = options
    this.#connection = connection
    this.#channel = channel
    connection.on('close', () => {
      if (!this.#closing) this.#failWaiters(new Error(`${options.name}: the broker closed the connection`))
    })
  }

  static async start(options: ConsumerOptions): Promise<OrderConsumer> {
    const connection = await connect(options.url, { timeout: 5_000 })
    // An 'error' without a listener would crash the process; the 'close' that follows is handled.
    connection.on('error', () => undefined)
    try {
      const channel = await connection.createChannel()
      channel.on('error', () => undefined)
      await channel.prefetch(options.prefetch ?? 4)
      const consumer = new OrderConsumer(options, connection, channel)
      const { consumerTag } = await channel.consume(options.queue, (m) => consumer.#receive(m), {
        noAck: false,
      })
      consumer.#tag = consumerTag
      return consumer
    } catch (error) {
      await connection.close().catch(() => undefined)
      throw error
    }
  }

  /** Resolves once `predicate` holds for the deliveries so far; rejects after `timeoutMs`. */
  waitFor(predicate: (deliveries: readonly Delivery[]) => boolean, timeoutMs: number, what: string) {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(waiter)
      }
      const waiter: Waiter = {
        check: () => {
          if (!predicate(this.deliveries)) return
          done()
          resolve()
        },
        fail: (error) => {
          done()
          reject(error)
        },
      }
      const timer = setTimeout(() => {
        const seen = this.deliveries.map((d) => `${d.runId}:${d.outcome}`).join(', ')
        waiter.fail(new Error(`${this.#options.name}: no ${what} within ${timeoutMs} ms (saw: ${seen})`))
      }, timeoutMs)
      this.#waiters.add(waiter)
      waiter.check()
    })
  }

  /** Stops consuming, lets in-flight messages settle (10 s at most), closes the connection. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#closing = true
      if (this.#tag !== undefined) await this.#channel.cancel(this.#tag).catch(() => undefined)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled([...this.#inFlight]),
        new Promise((resolve) => (timer = setTimeout(resolve, 10_000))),
      ])
      clearTimeout(timer)
      await this.#connection.close().catch(() => undefined)
    })()
    return this.#stopped
  }

  #receive(message: ConsumeMessage | null): void {
    if (message === null) return // cancelled by the broker (queue deleted): nothing to settle
    const handled = this.#handle(message)
    this.#inFlight.add(handled)
    void handled.finally(() => this.#inFlight.delete(handled))
  }

  async #handle(message: ConsumeMessage): Promise<void> {
    const { messageId } = message.properties
    const runId = typeof messageId === 'string' ? messageId : ''
    const base = { consumer: this.#options.name, runId, redelivered: message.fields.redelivered }
    let input: OrderMessage
    try {
      // Without a key a redelivery cannot be recognised: refuse the message (to a dead-letter queue).
      if (runId === '') throw new Error('no messageId')
      input = JSON.parse(message.content.toString('utf8')) as OrderMessage
    } catch (error) {
      const status = `refused: ${(error as Error).message}`
      return this.#settle(message, { ...base, found: null, call: 'none', status, outcome: 'reject' })
    }
    try {
      const { engine, flow } = this.#options
      const { found, call, result } = await handleOrder(engine, flow, runId, input)
      const delivery = { ...base, found, call, status: result.status }
      if (this.#options.dieBeforeAck?.(runId)) {
        // The process dies after the run is stored and before the ack: the broker requeues the
        // message when the connection goes, and redelivers it to whoever consumes next.
        this.#closing = true
        await this.#connection.close().catch(() => undefined)
        return this.#record({ ...delivery, outcome: 'died' })
      }
      // Completed: done. Failed: redeliver, the next delivery resumes it. Anything else
      // (cancelled, rolled back) will not be changed by a redelivery: dead-letter it.
      const outcome = result.status === 'completed' ? 'ack' : result.status === 'failed' ? 'nack' : 'reject'
      return this.#settle(message, { ...delivery, outcome })
    } catch (error) {
      // A storage error, or another consumer resuming the same run right now: try again later.
      const status = `error: ${(error as Error).message}`
      return this.#settle(message, { ...base, found: null, call: 'none', status, outcome: 'nack' })
    }
  }

  async #settle(message: ConsumeMessage, delivery: Delivery): Promise<void> {
    try {
      if (delivery.outcome === 'ack') this.#channel.ack(message)
      else if (delivery.outcome === 'reject') this.#channel.reject(message, false)
      else if (delivery.outcome === 'nack') {
        await new Promise((resolve) => setTimeout(resolve, this.#options.nackDelayMs ?? 20))
        this.#channel.nack(message, false, true)
      }
    } catch (error) {
      // The channel closed under us: the broker redelivers the message anyway.
      delivery = {
        ...delivery,
        status: `${delivery.status}; ${delivery.outcome} not sent: ${(error as Error).message}`,
      }
    }
    this.#record(delivery)
  }

  #record(delivery: Delivery): void {
    this.deliveries.push(delivery)
    for (const waiter of [...this.#waiters]) waiter.check()
  }

  #failWaiters(error: Error): void {
    for (const waiter of [...this.#waiters]) waiter.fail(error)
  }
}

const ORDERS: OrderMessage[] = [1, 2, 3, 4, 5, 6].map((n) => ({
  orderId: `ORD-${n}`,
  sku: `sku-${n}`,
  qty: n,
  amountCents: n * 1_000,
  email: `customer${n}@example.com`,
}))

export interface Summary {
  queue: string
  /** Every delivery, in the order the consumers settled them. */
  deliveries: Delivery[]
  /** Effects per order id, read back from the effects log. */
  effects: {
    stockReserved: Record<string, number>
    chargeRequests: Record<string, number>
    charges: Record<string, number>
    emails: Record<string, number>
  }
  /** `workflow:start` events per run id, over every engine. */
  runsStarted: Record<string, number>
  /** Each run's status in the SQLite store at the end. */
  runs: Record<string, WorkflowStatus>
  /** The crash case: the delivery that died before its ack, its redelivery, the effects around it. */
  crash: { died: Delivery | undefined; redelivery: Delivery | undefined; newEffects: number }
  /** Ready messages left in the queue once every consumer had stopped. */
  leftInQueue: number
  exactlyOnce: {
    everyOrderChargedOnce: boolean
    everyEmailSentOnce: boolean
    duplicatePublishIsOneRun: boolean
    redeliveryAfterCompletionRanNothing: boolean
  }
}

export async function main(url = AMQP_URL): Promise<Summary> {
  const dir = mkdtempSync(join(tmpdir(), 'fluxflow-rabbitmq-'))
  const effects = new EffectsLog(join(dir, 'effects.ndjson'))
  // ORD-2's first charge goes through, but its response is lost.
  const flow = orderWorkflow(new Warehouse(effects), new PaymentApi(effects, ['ORD-2']), new Mailer(effects))
  const runsStarted: Record<string, number> = {}
  const trace = {
    emit(event: FluxTraceEvent) {
      if (event.type === 'workflow:start')
        runsStarted[event.workflowId] = (runsStarted[event.workflowId] ?? 0) + 1
    },
  }
  // Each consumer "process" has its own engine; they share the durable store, as processes would.
  const newEngine = () =>
    new FluxEngine({
      storage: new SqliteStorage({ path: join(dir, 'flux.db') }),
      logger: new FluxSilentLogger(),
      trace,
    })
  const queue = `fluxflow.orders.${randomBytes(4).toString('hex')}`

  const producer = await connect(url, { timeout: 5_000 })
  producer.on('error', () => undefined)
  try {
    const channel = await producer.createConfirmChannel()
    await channel.assertQueue(queue, { durable: false, autoDelete: false, expires: 60_000 })
    const publish = async (...orders: OrderMessage[]) => {
      for (const order of orders) {
        const body = Buffer.from(JSON.stringify(order))
        channel.sendToQueue(queue, body, { messageId: order.orderId, contentType: 'application/json' })
      }
      await channel.waitForConfirms()
    }
    const consume = (name: string, engine: FluxEngine, extra: Partial<ConsumerOptions> = {}) =>
      OrderConsumer.start({ name, url, queue, engine, flow, ...extra })

    // (1)+(2) Five orders; ORD-3 is published twice back to back (a producer retrying a publish
    // whose confirm it missed), so both copies are in flight in this consumer at once. ORD-2's
    // run fails once: nacked, redelivered, resumed.
    const deliveries = await withConsumer(
      newEngine(),
      (e) => consume('consumer-1', e),
      async (consumer) => {
        await publish(...ORDERS.slice(0, 3), ORDERS[2]!, ...ORDERS.slice(3, 5))
        await consumer.waitFor((ds) => ds.filter((d) => d.outcome === 'ack').length === 6, 15_000, '6 acks')
      },
    )

    // (3) A consumer runs ORD-6 to completion and dies before its ack...
    deliveries.push(
      ...(await withConsumer(
        newEngine(),
        (e) => consume('consumer-2', e, { dieBeforeAck: (id) => id === 'ORD-6' }),
        async (consumer) => {
          await publish(ORDERS[5]!)
          await consumer.waitFor((ds) => ds.some((d) => d.outcome === 'died'), 10_000, 'death before ack')
        },
      )),
    )
    // ...and a new consumer, on a new engine over the same SQLite file, gets the redelivery.
    const effectsBefore = effects.read().length
    const runs: Record<string, WorkflowStatus> = {}
    deliveries.push(
      ...(await withConsumer(
        newEngine(),
        (e) => consume('consumer-3', e),
        async (consumer, engine) => {
          await consumer.waitFor(
            (ds) => ds.some((d) => d.outcome === 'ack'),
            10_000,
            'the redelivery of ORD-6',
          )
          for (const run of await engine.list({ name: 'rabbitmq-order' })) runs[run.id] = run.status
        },
      )),
    )
    const newEffects = effects.read().length - effectsBefore

    const { messageCount: leftInQueue } = await channel.checkQueue(queue)

    const charges = effects.countBy('charged')
    const emails = effects.countBy('email-sent')
    const ids = ORDERS.map((o) => o.orderId)
    const redelivery = deliveries.find((d) => d.consumer === 'consumer-3' && d.runId === 'ORD-6')
    return {
      queue,
      deliveries,
      effects: {
        stockReserved: effects.countBy('stock-reserved'),
        chargeRequests: effects.countBy('charge-requested'),
        charges,
        emails,
      },
      runsStarted,
      runs,
      crash: { died: deliveries.find((d) => d.outcome === 'died'), redelivery, newEffects },
      leftInQueue,
      exactlyOnce: {
        everyOrderChargedOnce: ids.every((id) => charges[id] === 1) && Object.keys(charges).length === 6,
        everyEmailSentOnce: ids.every((id) => emails[id] === 1) && Object.keys(emails).length === 6,
        duplicatePublishIsOneRun:
          deliveries.filter((d) => d.runId === 'ORD-3' && d.outcome === 'ack').length === 2 &&
          runsStarted['ORD-3'] === 1,
        redeliveryAfterCompletionRanNothing:
          redelivery?.redelivered === true && redelivery.found === 'completed' && newEffects === 0,
      },
    }
  } finally {
    // Also on error: never leave the queue or a connection behind (the queue expires anyway). A
    // fresh channel, as an error may have closed the first one.
    await producer
      .createChannel()
      .then((ch) => ch.deleteQueue(queue))
      .catch(() => undefined)
    await producer.close().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Starts a consumer on `engine`, runs `body`, then stops the consumer and closes the engine (also
 * on error); resolves with every delivery the consumer settled.
 */
async function withConsumer(
  engine: FluxEngine,
  start: (engine: FluxEngine) => Promise<OrderConsumer>,
  body: (consumer: OrderConsumer, engine: FluxEngine) => Promise<void>,
): Promise<Delivery[]> {
  try {
    const consumer = await start(engine)
    try {
      await body(consumer, engine)
    } finally {
      await consumer.stop()
    }
    return consumer.deliveries
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { deliveries, effects, runsStarted, exactlyOnce } = await main()
  for (const d of deliveries)
    console.log(
      `${d.consumer}: ${d.runId}${d.redelivered ? ' (redelivered)' : ''}, found ${d.found ?? 'no run'}, ` +
        `${d.call} → ${d.status}, ${d.outcome}`,
    )
  for (const [what, counts] of Object.entries({ ...effects, runsStarted }))
    console.log(`${what}: ${JSON.stringify(counts)}`)
  console.log(`exactly once: ${JSON.stringify(exactlyOnce)}`)
}
