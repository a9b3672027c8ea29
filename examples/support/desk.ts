/** A support desk: automatic handling, a ticketing system and a risk-audit queue. */

export interface SupportEvent {
  kind: 'refund' | 'complaint' | 'chargeback'
  amountCents: number
  customer: string
}

/** auto: small refunds; risk: chargebacks and large amounts; manual: everything else. */
export function classify(event: SupportEvent): 'auto' | 'manual' | 'risk' {
  if (event.kind === 'chargeback' || event.amountCents >= 100_000) return 'risk'
  if (event.kind === 'refund' && event.amountCents <= 5_000) return 'auto'
  return 'manual'
}

export async function autoProcess(event: SupportEvent): Promise<string> {
  return `refunded ${event.amountCents} to ${event.customer}`
}

export class Ticketing {
  readonly tickets: SupportEvent[] = []

  async create(event: SupportEvent): Promise<string> {
    this.tickets.push(event)
    return `TCK-${this.tickets.length}`
  }
}

export class AuditQueue {
  readonly queued: SupportEvent[] = []

  async enqueue(event: SupportEvent): Promise<string> {
    this.queued.push(event)
    return `AUD-${this.queued.length}`
  }
}
