/**
 * A payment provider in the style of Stripe: a charge carries an idempotency key, and a second
 * request with a key it has seen returns the first charge instead of charging again.
 */

export interface Charge {
  id: string
  orderId: string
  amountCents: number
}

export interface PaymentOptions {
  /** The next N requests are refused before anything is charged (provider down). */
  outages?: number
  /** The next N requests charge the card, then fail as if the response were lost (timeout). */
  lostResponses?: number
}

export class PaymentGateway {
  /** Every request, including the failed ones. */
  readonly requests: string[] = []
  /** Charges actually made. */
  readonly charges: Charge[] = []
  readonly #byKey = new Map<string, Charge>()
  #outages: number
  #lostResponses: number

  constructor(options: PaymentOptions = {}) {
    this.#outages = options.outages ?? 0
    this.#lostResponses = options.lostResponses ?? 0
  }

  /** The provider comes back up. */
  recover(): void {
    this.#outages = 0
  }

  async charge(orderId: string, amountCents: number, idempotencyKey: string): Promise<Charge> {
    this.requests.push(idempotencyKey)
    if (this.#outages > 0) {
      this.#outages--
      throw new Error('payment provider unavailable (503)')
    }
    let charge = this.#byKey.get(idempotencyKey)
    if (!charge) {
      charge = { id: `ch_${this.charges.length + 1}`, orderId, amountCents }
      this.charges.push(charge)
      this.#byKey.set(idempotencyKey, charge)
    }
    if (this.#lostResponses > 0) {
      this.#lostResponses--
      throw new Error('payment request timed out')
    }
    return { ...charge }
  }
}
