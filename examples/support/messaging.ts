/** Outbound channels that record what they were asked to send. */

/** What goes over the wire is JSON, so that is what a channel records. */
const wire = <T>(message: T): T => JSON.parse(JSON.stringify(message)) as T

export class Outbox<T = unknown> {
  readonly sent: T[] = []

  constructor(readonly channel: string) {}

  async send(message: T): Promise<void> {
    this.sent.push(wire(message))
  }
}

/** An audit log; `save` is what a workflow's final commit writes. */
export class AuditLog {
  readonly entries: unknown[] = []

  async save(entry: unknown): Promise<void> {
    this.entries.push(wire(entry))
  }
}
