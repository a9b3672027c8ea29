/**
 * A store written the way a user would: every run kept as one JSON document in a Map (think of a
 * key-value database), implemented against the public contract only. It must pass the same
 * conformance suite as the built-in adapters, and an engine must run on it.
 */
import { describe, expect, it } from 'vitest'
import { createWorkflow, Flux, FluxEngine, FluxSilentLogger, LeaseLostError } from '../src/index.js'
import {
  ACTIVE_STATUSES,
  type ClaimKind,
  type FluxStore,
  leaseIsFree,
  type RunRecord,
  type RunSnapshot,
} from '../src/storage/contract.js'
import { runStoreConformance } from '../src/testing/index.js'

type Doc = RunSnapshot & { seq: number }
const ENDED = ['completed', 'failed', 'rolled_back', 'compensation_failed', 'cancelled']

class KeyValueStore implements FluxStore {
  readonly durable = true as const
  readonly kv = new Map<string, string>()

  private read(id: string): Doc | undefined {
    const text = this.kv.get(id)
    return text === undefined ? undefined : (JSON.parse(text) as Doc)
  }
  private write(doc: Doc): void {
    this.kv.set(doc.run.id, JSON.stringify(doc))
  }
  private view(doc: Doc): RunSnapshot {
    return { run: doc.run, checkpoints: doc.checkpoints, signals: doc.signals }
  }
  private fenced(id: string, token: string): Doc {
    const doc = this.read(id)
    if (!doc || doc.run.leaseToken !== token) throw new LeaseLostError(id)
    return doc
  }

  async init() {}
  async close() {}
  async createRun({ run, lease }: Parameters<FluxStore['createRun']>[0]) {
    const existing = this.read(run.id)
    if (existing) return { created: false, run: existing.run }
    const record: RunRecord = {
      ...run,
      leaseOwner: lease?.owner ?? null,
      leaseToken: lease?.token ?? null,
      leaseExpiresAt: lease?.expiresAt ?? null,
      revision: 1,
    }
    this.write({ run: record, checkpoints: [], signals: [], seq: 0 })
    return { created: true, run: record }
  }
  async loadRun(id: string) {
    const doc = this.read(id)
    return doc ? this.view(doc) : null
  }
  async getRun(id: string) {
    return this.read(id)?.run ?? null
  }
  async listRuns(p: Parameters<FluxStore['listRuns']>[0]) {
    const runs = [...this.kv.values()]
      .map((t) => (JSON.parse(t) as Doc).run)
      .filter(
        (r) =>
          (p.workflowName === undefined || r.workflowName === p.workflowName) &&
          (!p.statuses || p.statuses.includes(r.status)) &&
          (p.idPrefix === undefined || r.id.startsWith(p.idPrefix)) &&
          (p.createdAfter === undefined || r.createdAt >= p.createdAfter) &&
          (p.createdBefore === undefined || r.createdAt < p.createdBefore),
      )
      .sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id))
    const offset = p.offset ?? 0
    return {
      runs: runs.slice(offset, p.limit === undefined ? undefined : offset + p.limit),
      total: runs.length,
    }
  }
  async claimRun({ id, lease, now, statuses }: Parameters<FluxStore['claimRun']>[0]) {
    const doc = this.read(id)
    if (!doc || (statuses && !statuses.includes(doc.run.status)) || !leaseIsFree(doc.run, lease, now))
      return null
    Object.assign(doc.run, {
      leaseOwner: lease.owner,
      leaseToken: lease.token,
      leaseExpiresAt: lease.expiresAt,
      updatedAt: now,
    })
    doc.run.revision++
    this.write(doc)
    return this.view(doc)
  }
  private kind(doc: Doc, now: number): ClaimKind | undefined {
    const r = doc.run
    if (r.status === 'pending') return r.wakeAt === null || r.wakeAt <= now ? 'pending' : undefined
    if (r.status === 'suspended') {
      if (r.waitingFor !== null && doc.signals.some((s) => s.name === r.waitingFor)) return 'signal'
      return r.wakeAt !== null && r.wakeAt <= now ? 'timer' : undefined
    }
    return ACTIVE_STATUSES.includes(r.status) ? 'orphaned' : undefined
  }
  async claimDue({
    lease,
    now,
    definitionKeys,
    queues,
    limit,
    kinds,
    queueLimits,
  }: Parameters<FluxStore['claimDue']>[0]) {
    // Slots left per capped queue: its cap less the runs holding a live lease. No await from
    // here to the writes below, so no other claim can come between the count and the claim.
    const slots = new Map(Object.entries(queueLimits ?? {}))
    for (const text of this.kv.values()) {
      const { run } = JSON.parse(text) as Doc
      const left = slots.get(run.queue)
      if (left !== undefined && run.leaseToken !== null && (run.leaseExpiresAt ?? 0) > now)
        slots.set(run.queue, left - 1)
    }
    const fits = (queue: string) => {
      const left = slots.get(queue)
      if (left === undefined) return true
      if (left < 1) return false
      slots.set(queue, left - 1)
      return true
    }
    const candidates = [...this.kv.keys()]
      .map((id) => this.read(id)!)
      .filter((d) => {
        const k = this.kind(d, now)
        return (
          k !== undefined &&
          (!kinds || kinds.includes(k)) &&
          definitionKeys.includes(d.run.definitionKey) &&
          (!queues || queues.includes(d.run.queue)) &&
          (d.run.leaseToken !== lease.token ||
            (d.run.leaseExpiresAt !== null && d.run.leaseExpiresAt <= now)) &&
          leaseIsFree(d.run, lease, now)
        )
      })
      .sort(
        (a, b) =>
          b.run.priority - a.run.priority ||
          (a.run.wakeAt ?? a.run.createdAt) - (b.run.wakeAt ?? b.run.createdAt),
      )
    const due: Doc[] = []
    for (const d of candidates) {
      if (due.length >= limit) break
      if (fits(d.run.queue)) due.push(d)
    }
    for (const d of due) {
      Object.assign(d.run, {
        leaseOwner: lease.owner,
        leaseToken: lease.token,
        leaseExpiresAt: lease.expiresAt,
        updatedAt: now,
      })
      d.run.revision++
      this.write(d)
    }
    return due.map((d) => this.view(d))
  }
  private apply(doc: Doc, p: Parameters<FluxStore['checkpoint']>[0]) {
    Object.assign(doc.run, p.patch, { updatedAt: p.now })
    if (p.body !== undefined) doc.checkpoints.push({ seq: ++doc.seq, at: p.now, body: p.body })
    if (p.consumeSignal !== undefined) doc.signals = doc.signals.filter((s) => s.name !== p.consumeSignal)
    if (p.release) Object.assign(doc.run, { leaseOwner: null, leaseToken: null, leaseExpiresAt: null })
    else if (p.leaseExpiresAt !== undefined) doc.run.leaseExpiresAt = p.leaseExpiresAt
    doc.run.revision++
    this.write(doc)
  }
  async checkpoint(p: Parameters<FluxStore['checkpoint']>[0]) {
    this.apply(this.fenced(p.id, p.token), p)
  }
  async park(p: Parameters<FluxStore['park']>[0]) {
    const doc = this.fenced(p.id, p.token)
    const signal = doc.signals.find((s) => s.name === p.unlessSignal)
    if (p.unlessSignal !== undefined && signal) return { parked: false as const, signal }
    this.apply(doc, p)
    return { parked: true as const }
  }
  async renewLeases({ token, ids, expiresAt }: Parameters<FluxStore['renewLeases']>[0]) {
    return ids.filter((id) => {
      const doc = this.read(id)
      if (!doc || doc.run.leaseToken !== token) return false
      doc.run.leaseExpiresAt = expiresAt
      this.write(doc)
      return true
    })
  }
  async release({ id, token, now }: Parameters<FluxStore['release']>[0]) {
    const doc = this.read(id)
    if (!doc || doc.run.leaseToken !== token) return
    Object.assign(doc.run, { leaseOwner: null, leaseToken: null, leaseExpiresAt: null, updatedAt: now })
    doc.run.revision++
    this.write(doc)
  }
  async deliverSignal({ id, name, payload, now }: Parameters<FluxStore['deliverSignal']>[0]) {
    const doc = this.read(id)
    if (!doc) return { outcome: 'not-found' as const }
    const r = doc.run
    if (ENDED.includes(r.status)) return { outcome: 'ended' as const, run: r }
    const atWait = r.status === 'suspended' && r.waitingFor !== null
    if (atWait && r.waitingFor !== name) return { outcome: 'mismatch' as const, run: r }
    if (doc.signals.some((s) => s.name === name)) return { outcome: 'duplicate' as const, run: r }
    doc.signals.push({ name, payload, at: now })
    r.revision++
    r.updatedAt = now
    this.write(doc)
    return { outcome: atWait ? ('delivered' as const) : ('queued' as const), run: r }
  }
  async cancelRun({ id, now, error }: Parameters<FluxStore['cancelRun']>[0]) {
    const doc = this.read(id)
    if (!doc) return null
    if (!ENDED.includes(doc.run.status)) {
      Object.assign(doc.run, {
        status: 'cancelled',
        error,
        completedAt: now,
        waitingFor: null,
        wakeAt: null,
        leaseOwner: null,
        leaseToken: null,
        leaseExpiresAt: null,
        updatedAt: now,
      })
      doc.run.revision++
      this.write(doc)
    }
    return doc.run
  }
  async deleteRun(id: string) {
    return this.kv.delete(id)
  }
  async replaceRun({ run, checkpoints }: Parameters<FluxStore['replaceRun']>[0]) {
    this.write({ run, checkpoints, signals: this.read(run.id)?.signals ?? [], seq: checkpoints.length })
  }
}

runStoreConformance({ describe, it, expect }, 'a user-written key-value store', () => new KeyValueStore())

describe('an engine on a user-written store', () => {
  it('runs, suspends, signals and compensates', async () => {
    const store = new KeyValueStore()
    const engine = new FluxEngine({ storage: store, logger: new FluxSilentLogger() })
    const undone: string[] = []
    const flow = createWorkflow('kv')
      .step('a', (ctx) => void (ctx.data.a = new Date(1)), { compensate: () => void undone.push('a') })
      .step('wait', () => Flux.wait('go'))
      .step(
        'fail',
        (ctx) => {
          if (ctx.signals.go === 'fail') throw new Error('asked to')
        },
        { retries: 0 },
      )
    const first = await engine.execute(flow, {})
    expect(first.status).toBe('suspended')
    const done = await engine.signal(flow, first.id, 'go', 'fail')
    expect(done.status).toBe('rolled_back')
    expect(undone).toEqual(['a'])
    expect((await engine.get(first.id))!.data.a).toEqual(new Date(1))
  })
})
