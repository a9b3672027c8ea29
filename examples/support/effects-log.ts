/**
 * An append-only log of the side effects that leave a process (stock reserved, card charged,
 * email sent), one JSON line each, in a file: it outlives the consumer that wrote it, as the
 * warehouse's, the payment provider's and the mail server's own records would, so a demo can
 * count every effect across consumers that die and restart.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs'

export type Effect =
  | { kind: 'stock-reserved'; orderId: string; sku: string; qty: number }
  | { kind: 'charge-requested'; orderId: string; key: string }
  | { kind: 'charged'; orderId: string; key: string; chargeId: string; amountCents: number }
  | { kind: 'email-sent'; orderId: string; to: string }

export type EffectKind = Effect['kind']

export class EffectsLog {
  constructor(readonly path: string) {}

  append(effect: Effect): void {
    // One synchronous append per effect: a line is either wholly in the file or not at all.
    appendFileSync(this.path, `${JSON.stringify(effect)}\n`)
  }

  read(): Effect[] {
    if (!existsSync(this.path)) return []
    return readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Effect)
  }

  /** How many effects of `kind` each order has: `{ 'ORD-1': 1, … }`. */
  countBy(kind: EffectKind): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const effect of this.read())
      if (effect.kind === kind) counts[effect.orderId] = (counts[effect.orderId] ?? 0) + 1
    return counts
  }
}

export class Warehouse {
  constructor(readonly log: EffectsLog) {}

  async reserve(orderId: string, sku: string, qty: number): Promise<string> {
    this.log.append({ kind: 'stock-reserved', orderId, sku, qty })
    return `RES-${orderId}`
  }
}

/**
 * A payment API in the style of Stripe: a request whose idempotency key it has seen returns
 * the charge it made then. Its memory of keys is the effects log, so it holds across consumers.
 * `flaky` orders charge the card on their first request, then fail as if the response had
 * been lost (a timeout): the caller cannot tell whether the card was charged.
 */
export class PaymentApi {
  readonly #flaky: Set<string>

  constructor(
    readonly log: EffectsLog,
    flaky: Iterable<string> = [],
  ) {
    this.#flaky = new Set(flaky)
  }

  async charge(orderId: string, amountCents: number, idempotencyKey: string): Promise<{ id: string }> {
    this.log.append({ kind: 'charge-requested', orderId, key: idempotencyKey })
    const effects = this.log.read()
    const previous = effects.find((e) => e.kind === 'charged' && e.key === idempotencyKey)
    let chargeId = previous?.kind === 'charged' ? previous.chargeId : undefined
    if (chargeId === undefined) {
      chargeId = `ch_${effects.filter((e) => e.kind === 'charged').length + 1}`
      this.log.append({ kind: 'charged', orderId, key: idempotencyKey, chargeId, amountCents })
    }
    if (this.#flaky.delete(orderId)) throw new Error('payment API timed out')
    return { id: chargeId }
  }
}

export class Mailer {
  constructor(readonly log: EffectsLog) {}

  async send(orderId: string, to: string): Promise<void> {
    this.log.append({ kind: 'email-sent', orderId, to })
  }
}
