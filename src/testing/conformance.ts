/**
 * The storage contract as a test suite. Every adapter runs it unchanged, with one line:
 *
 * ```ts
 * import { describe, it, expect } from 'vitest' // or 'bun:test'
 * runStoreConformance({ describe, it, expect }, 'MyStore', () => new MyStore())
 * ```
 *
 * The factory is called once per test and must return an initialised-or-not, empty store.
 */
import { LeaseLostError } from '../errors.js'
import type { FluxStore, RunRecord } from '../storage/contract.js'
import type { WorkflowStatus } from '../types.js'
import { queueLimitTests } from './conformance-queue-limits.js'
import { testLease as lease, sampleRun, T0, type TestApi } from './sample-run.js'

export { sampleRun, type TestApi } from './sample-run.js'

/** Options of {@link runStoreConformance}. */
export interface ConformanceOptions {
  /** Called after each test with the store (close it, drop its schema…). */
  cleanup?: (store: FluxStore) => Promise<void> | void
}

/** Registers the contract tests for one adapter. */
export function runStoreConformance(
  api: TestApi,
  name: string,
  factory: () => FluxStore | Promise<FluxStore>,
  options: ConformanceOptions = {},
): void {
  const { describe, it, expect } = api
  const withStore = (fn: (store: FluxStore) => Promise<void>) => async () => {
    const store = await factory()
    await store.init()
    try {
      await fn(store)
    } finally {
      if (options.cleanup) await options.cleanup(store)
      else await store.close()
    }
  }
  const A = lease('worker-a', 'a/1')
  const B = lease('worker-b', 'b/1')

  describe(`${name}: storage contract`, () => {
    it(
      'creates a run once and never overwrites it',
      withStore(async (s) => {
        const first = await s.createRun({ run: sampleRun('r1'), lease: A })
        expect(first.created).toBe(true)
        expect(first.run.leaseToken).toBe('a/1')
        expect(first.run.revision).toBeGreaterThan(0)
        const second = await s.createRun({ run: sampleRun('r1', { input: '[2]', createdAt: T0 + 5 }) })
        expect(second.created).toBe(false)
        expect(second.run.input).toBe('[{"n":1},1]')
        expect(second.run.createdAt).toBe(T0)
        expect(await s.getRun('nope')).toBeNull()
        expect(await s.loadRun('nope')).toBeNull()
      }),
    )

    it(
      'fences checkpoints by lease token and applies them in call order',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('r1'), lease: A })
        await expect(
          s.checkpoint({ id: 'r1', token: 'b/1', now: T0 + 1, patch: { cursor: 9 }, body: 'x' }),
        ).rejects.toBeInstanceOf(LeaseLostError)
        await expect(
          s.checkpoint({ id: 'missing', token: 'a/1', now: T0 + 1, patch: {} }),
        ).rejects.toBeInstanceOf(LeaseLostError)
        // Issued without awaiting: must land in call order.
        const writes = [1, 2, 3, 4, 5].map((n) =>
          s.checkpoint({ id: 'r1', token: 'a/1', now: T0 + n, patch: { cursor: n }, body: `body-${n}` }),
        )
        await Promise.all(writes)
        const snap = await s.loadRun('r1')
        expect(snap!.run.cursor).toBe(5)
        expect(snap!.checkpoints.map((c) => c.body)).toEqual([
          'body-1',
          'body-2',
          'body-3',
          'body-4',
          'body-5',
        ])
        const seqs = snap!.checkpoints.map((c) => c.seq)
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs)
        expect(snap!.run.createdAt).toBe(T0)
        expect(snap!.run.updatedAt).toBe(T0 + 5)
      }),
    )

    it(
      'writes every patch field and releases or extends the lease',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('r1'), lease: A })
        await s.checkpoint({
          id: 'r1',
          token: 'a/1',
          now: T0 + 10,
          patch: {
            status: 'suspended',
            cursor: 1,
            waitingFor: 'go',
            wakeAt: T0 + 99,
            error: '{"name":"E","message":"m"}',
            meta: '{"steps":[]}',
            completedAt: null,
          },
          leaseExpiresAt: T0 + 500,
        })
        let run = (await s.getRun('r1'))!
        expect([run.status, run.cursor, run.waitingFor, run.wakeAt, run.error, run.meta]).toEqual([
          'suspended',
          1,
          'go',
          T0 + 99,
          '{"name":"E","message":"m"}',
          '{"steps":[]}',
        ])
        expect(run.leaseExpiresAt).toBe(T0 + 500)
        const before = run.revision
        await s.checkpoint({
          id: 'r1',
          token: 'a/1',
          now: T0 + 11,
          patch: { status: 'completed', completedAt: T0 + 11 },
          release: true,
        })
        run = (await s.getRun('r1'))!
        expect(run.revision).toBeGreaterThan(before)
        expect([run.leaseOwner, run.leaseToken, run.leaseExpiresAt, run.completedAt]).toEqual([
          null,
          null,
          null,
          T0 + 11,
        ])
        await expect(
          s.checkpoint({ id: 'r1', token: 'a/1', now: T0 + 12, patch: {} }),
        ).rejects.toBeInstanceOf(LeaseLostError)
      }),
    )

    it(
      'claims a run only when its lease is free, expired, or held by an earlier incarnation',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('r1'), lease: A })
        expect(await s.claimRun({ id: 'r1', lease: B, now: T0 + 1 })).toBeNull()
        expect(await s.claimRun({ id: 'r1', lease: lease('worker-a', 'a/2'), now: T0 + 1 })).not.toBeNull()
        await expect(s.checkpoint({ id: 'r1', token: 'a/1', now: T0 + 2, patch: {} })).rejects.toBeInstanceOf(
          LeaseLostError,
        )
        expect(await s.claimRun({ id: 'r1', lease: B, now: T0 + 29_999 })).toBeNull()
        const taken = await s.claimRun({
          id: 'r1',
          lease: lease('worker-b', 'b/1', T0 + 90_000),
          now: T0 + 30_000,
        })
        expect(taken!.run.leaseToken).toBe('b/1')
        expect(taken!.run.leaseExpiresAt).toBe(T0 + 90_000)
        expect(
          await s.claimRun({ id: 'r1', lease: lease('worker-b', 'b/1', T0 + 95_000), now: T0 + 30_001 }),
        ).not.toBeNull()
        expect(await s.claimRun({ id: 'missing', lease: B, now: T0 })).toBeNull()
        await s.createRun({ run: sampleRun('r2', { status: 'completed' }) })
        expect(
          await s.claimRun({ id: 'r2', lease: B, now: T0, statuses: ['running', 'suspended'] }),
        ).toBeNull()
        expect(await s.claimRun({ id: 'r2', lease: B, now: T0, statuses: ['completed'] })).not.toBeNull()
      }),
    )

    it(
      'claims due work: pending, expired, timers, arrived signals — by key, queue, priority and limit',
      withStore(async (s) => {
        const now = T0 + 1000
        await s.createRun({ run: sampleRun('pending', { status: 'pending', createdAt: T0 + 1 }) })
        await s.createRun({ run: sampleRun('later', { status: 'pending', wakeAt: now + 1 }) })
        await s.createRun({
          run: sampleRun('expired', { createdAt: T0 + 2 }),
          lease: lease('dead', 'd/1', now - 1),
        })
        await s.createRun({ run: sampleRun('live'), lease: lease('alive', 'l/1', now + 5000) })
        await s.createRun({ run: sampleRun('released', { status: 'running', createdAt: T0 + 3 }) })
        await s.createRun({
          run: sampleRun('timer', { status: 'suspended', wakeAt: now, createdAt: T0 + 4 }),
        })
        await s.createRun({ run: sampleRun('sleeping', { status: 'suspended', wakeAt: now + 10 }) })
        await s.createRun({ run: sampleRun('waiting', { status: 'suspended', waitingFor: 'go' }) })
        await s.createRun({
          run: sampleRun('signalled', { status: 'suspended', waitingFor: 'go', createdAt: T0 + 5 }),
        })
        await s.deliverSignal({ id: 'signalled', name: 'go', payload: '[1]', now })
        await s.createRun({ run: sampleRun('done', { status: 'completed' }) })
        await s.createRun({ run: sampleRun('failed', { status: 'failed' }) })
        await s.createRun({ run: sampleRun('other-key', { status: 'pending', definitionKey: 'wf#h2' }) })
        await s.createRun({ run: sampleRun('other-queue', { status: 'pending', queue: 'mail' }) })
        await s.createRun({ run: sampleRun('urgent', { status: 'pending', priority: 5, createdAt: T0 + 9 }) })

        const claimed = await s.claimDue({
          lease: lease('w', 'w/1', now + 30_000),
          now,
          definitionKeys: ['wf#h1'],
          queues: ['default'],
          limit: 100,
        })
        const ids = claimed.map((c) => c.run.id)
        expect(ids[0]).toBe('urgent')
        expect([...ids].sort()).toEqual(['expired', 'pending', 'released', 'signalled', 'timer', 'urgent'])
        for (const c of claimed) expect(c.run.leaseToken).toBe('w/1')
        expect(claimed.find((c) => c.run.id === 'signalled')!.signals.map((x) => x.name)).toEqual(['go'])
        const rest = await s.claimDue({
          lease: lease('v', 'v/1'),
          now,
          definitionKeys: ['wf#h1'],
          limit: 100,
        })
        expect(rest.map((c) => c.run.id)).toEqual(['other-queue'])
        const limited = await s.claimDue({
          lease: lease('x', 'x/1'),
          now: now + 20,
          definitionKeys: ['wf#h1', 'wf#h2'],
          limit: 1,
        })
        expect(limited).toHaveLength(1)
      }),
    )

    it(
      "skips runs the claimer's own token holds live, and takes them back once that lease expired",
      withStore(async (s) => {
        const mine = lease('w', 'w/1', T0 + 1000)
        await s.createRun({ run: sampleRun('held'), lease: mine })
        expect(
          await s.claimDue({
            lease: lease('w', 'w/1', T0 + 5000),
            now: T0 + 999,
            definitionKeys: ['wf#h1'],
            limit: 10,
          }),
        ).toEqual([])
        // The lease lapsed (say the answer of the claim that took it was lost): it is due again.
        const again = await s.claimDue({
          lease: lease('w', 'w/1', T0 + 9000),
          now: T0 + 1000,
          definitionKeys: ['wf#h1'],
          limit: 10,
        })
        expect(again.map((c) => [c.run.id, c.run.leaseExpiresAt])).toEqual([['held', T0 + 9000]])
      }),
    )

    it(
      'never hands one run to two concurrent claimers',
      withStore(async (s) => {
        for (let i = 0; i < 20; i++)
          await s.createRun({ run: sampleRun(`p${i}`, { status: 'pending', createdAt: T0 + i }) })
        const owners = ['a', 'b', 'c', 'd']
        const results = await Promise.all(
          owners.map((o) =>
            s.claimDue({ lease: lease(o, `${o}/1`), now: T0 + 100, definitionKeys: ['wf#h1'], limit: 8 }),
          ),
        )
        const all = results.flat().map((r) => r.run.id)
        expect(new Set(all).size).toBe(all.length)
        expect(all.length).toBe(20)
      }),
    )

    it(
      'renews and releases only leases the token holds',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('r1'), lease: A })
        await s.createRun({ run: sampleRun('r2'), lease: B })
        const kept = await s.renewLeases({
          token: 'a/1',
          ids: ['r1', 'r2', 'missing'],
          now: T0 + 10,
          expiresAt: T0 + 60_000,
        })
        expect(kept).toEqual(['r1'])
        expect((await s.getRun('r1'))!.leaseExpiresAt).toBe(T0 + 60_000)
        expect((await s.getRun('r2'))!.leaseExpiresAt).toBe(T0 + 30_000)
        await s.release({ id: 'r2', token: 'a/1', now: T0 + 11 })
        expect((await s.getRun('r2'))!.leaseToken).toBe('b/1')
        await s.release({ id: 'r2', token: 'b/1', now: T0 + 11 })
        const r2 = (await s.getRun('r2'))!
        expect([r2.leaseOwner, r2.leaseToken, r2.leaseExpiresAt, r2.status]).toEqual([
          null,
          null,
          null,
          'running',
        ])
      }),
    )

    it(
      'delivers, queues or refuses signals, one per name until consumed',
      withStore(async (s) => {
        const now = T0 + 1
        expect(await s.deliverSignal({ id: 'missing', name: 'go', payload: '[1]', now })).toEqual({
          outcome: 'not-found',
        })
        await s.createRun({ run: sampleRun('done', { status: 'completed' }) })
        expect((await s.deliverSignal({ id: 'done', name: 'go', payload: '[1]', now })).outcome).toBe('ended')
        await s.createRun({ run: sampleRun('w', { status: 'suspended', waitingFor: 'go' }) })
        expect((await s.deliverSignal({ id: 'w', name: 'stop', payload: '[1]', now })).outcome).toBe(
          'mismatch',
        )
        const race = await Promise.all(
          [1, 2, 3].map((n) => s.deliverSignal({ id: 'w', name: 'go', payload: `[${n}]`, now })),
        )
        expect(race.map((r) => r.outcome).sort()).toEqual(['delivered', 'duplicate', 'duplicate'])
        await s.createRun({ run: sampleRun('busy'), lease: A })
        expect((await s.deliverSignal({ id: 'busy', name: 'early', payload: '["p"]', now })).outcome).toBe(
          'queued',
        )
        expect((await s.deliverSignal({ id: 'busy', name: 'early', payload: '["q"]', now })).outcome).toBe(
          'duplicate',
        )
        const snap = await s.loadRun('busy')
        expect(snap!.signals).toEqual([{ name: 'early', payload: '["p"]', at: now }])
        await s.checkpoint({
          id: 'busy',
          token: 'a/1',
          now: now + 1,
          patch: {},
          consumeSignal: 'early',
          body: 'c',
        })
        expect((await s.loadRun('busy'))!.signals).toEqual([])
        expect((await s.deliverSignal({ id: 'busy', name: 'early', payload: '["r"]', now })).outcome).toBe(
          'queued',
        )
      }),
    )

    it(
      'parks unless the awaited signal is already in the mailbox',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('r1'), lease: A })
        await s.deliverSignal({ id: 'r1', name: 'go', payload: '[7]', now: T0 })
        const blocked = await s.park({
          id: 'r1',
          token: 'a/1',
          now: T0 + 1,
          patch: { status: 'suspended', waitingFor: 'go' },
          body: 'b',
          unlessSignal: 'go',
          release: true,
        })
        expect(blocked).toEqual({ parked: false, signal: { name: 'go', payload: '[7]', at: T0 } })
        const run = (await s.getRun('r1'))!
        expect([run.status, run.waitingFor, run.leaseToken]).toEqual(['running', null, 'a/1'])
        expect((await s.loadRun('r1'))!.checkpoints).toHaveLength(0)
        const parked = await s.park({
          id: 'r1',
          token: 'a/1',
          now: T0 + 2,
          patch: { status: 'suspended', waitingFor: 'other' },
          body: 'b',
          unlessSignal: 'other',
          release: true,
        })
        expect(parked).toEqual({ parked: true })
        const after = (await s.loadRun('r1'))!
        expect([
          after.run.status,
          after.run.waitingFor,
          after.run.leaseToken,
          after.checkpoints.length,
        ]).toEqual(['suspended', 'other', null, 1])
        await expect(
          s.park({ id: 'r1', token: 'a/1', now: T0 + 3, patch: {}, unlessSignal: 'x' }),
        ).rejects.toBeInstanceOf(LeaseLostError)
      }),
    )

    it(
      'cancels runs that have not ended and fences their owner out',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('r1'), lease: A })
        const cancelled = await s.cancelRun({
          id: 'r1',
          now: T0 + 5,
          error: '{"name":"WorkflowCancelledError","message":"stop"}',
        })
        expect([cancelled!.status, cancelled!.leaseToken, cancelled!.completedAt]).toEqual([
          'cancelled',
          null,
          T0 + 5,
        ])
        await expect(
          s.checkpoint({ id: 'r1', token: 'a/1', now: T0 + 6, patch: { status: 'completed' } }),
        ).rejects.toBeInstanceOf(LeaseLostError)
        await s.createRun({ run: sampleRun('r2', { status: 'completed' }) })
        expect((await s.cancelRun({ id: 'r2', now: T0, error: '{}' }))!.status).toBe('completed')
        expect(await s.cancelRun({ id: 'missing', now: T0, error: '{}' })).toBeNull()
      }),
    )

    it(
      'lists newest first with filters, and pages with any combination of limit and offset',
      withStore(async (s) => {
        const statuses: WorkflowStatus[] = ['completed', 'failed', 'running', 'suspended', 'completed']
        for (let i = 0; i < 10; i++) {
          await s.createRun({
            run: sampleRun(`run-${String(i).padStart(2, '0')}`, {
              createdAt: T0 + i * 10,
              status: statuses[i % 5]!,
              workflowName: i % 2 ? 'odd' : 'even',
            }),
          })
        }
        const all = await s.listRuns({})
        expect(all.total).toBe(10)
        expect(all.runs.map((r) => r.id)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map((i) => `run-0${i}`))
        expect((await s.listRuns({ offset: 7 })).runs.map((r) => r.id)).toEqual([
          'run-02',
          'run-01',
          'run-00',
        ])
        expect((await s.listRuns({ limit: 2 })).runs.map((r) => r.id)).toEqual(['run-09', 'run-08'])
        const page = await s.listRuns({ limit: 3, offset: 3 })
        expect(page.runs.map((r) => r.id)).toEqual(['run-06', 'run-05', 'run-04'])
        expect(page.total).toBe(10)
        expect((await s.listRuns({ offset: 20 })).runs).toEqual([])
        expect((await s.listRuns({ limit: 0 })).runs).toEqual([])
        expect((await s.listRuns({ workflowName: 'odd' })).runs.map((r) => r.id)).toEqual([
          'run-09',
          'run-07',
          'run-05',
          'run-03',
          'run-01',
        ])
        expect((await s.listRuns({ statuses: ['completed'] })).total).toBe(4)
        expect(
          (await s.listRuns({ statuses: ['failed', 'running'], limit: 1 })).runs.map((r) => r.id),
        ).toEqual(['run-07'])
        expect((await s.listRuns({ idPrefix: 'run-0' })).total).toBe(10)
        expect((await s.listRuns({ idPrefix: 'run-05' })).runs.map((r) => r.id)).toEqual(['run-05'])
        expect(
          (await s.listRuns({ createdAfter: T0 + 30, createdBefore: T0 + 60 })).runs.map((r) => r.id),
        ).toEqual(['run-05', 'run-04', 'run-03'])
      }),
    )

    it(
      'treats hostile ids and names as plain data',
      withStore(async (s) => {
        const id = `x'); DROP TABLE runs; --%_"\\`
        await s.createRun({ run: sampleRun(id, { workflowName: "w'%_" }), lease: A })
        expect((await s.getRun(id))!.id).toBe(id)
        expect((await s.listRuns({ idPrefix: "x'); DROP" })).total).toBe(1)
        expect((await s.listRuns({ idPrefix: '%' })).total).toBe(0)
        expect((await s.listRuns({ idPrefix: 'x_' })).total).toBe(0)
        expect((await s.listRuns({ workflowName: "w'%_" })).total).toBe(1)
        expect(
          (await s.deliverSignal({ id, name: 'sig\'"', payload: '["<script>"]', now: T0 })).outcome,
        ).toBe('queued')
      }),
    )

    it(
      'returns copies, deletes and replaces runs',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('r1'), lease: A })
        const copy = (await s.getRun('r1')) as RunRecord
        copy.status = 'failed'
        const snap = (await s.loadRun('r1'))!
        snap.run.cursor = 42
        expect((await s.getRun('r1'))!.status).toBe('running')
        expect((await s.getRun('r1'))!.cursor).toBe(0)
        await s.replaceRun({
          run: {
            ...sampleRun('r1', { status: 'failed', cursor: 1 }),
            leaseOwner: null,
            leaseToken: null,
            leaseExpiresAt: null,
            revision: 1,
          },
          checkpoints: [{ seq: 1, at: T0, body: 'whole' }],
        })
        const replaced = (await s.loadRun('r1'))!
        expect([replaced.run.status, replaced.run.cursor, replaced.checkpoints.map((c) => c.body)]).toEqual([
          'failed',
          1,
          ['whole'],
        ])
        expect(await s.deleteRun('r1')).toBe(true)
        expect(await s.deleteRun('r1')).toBe(false)
        expect(await s.loadRun('r1')).toBeNull()
      }),
    )

    it(
      'keeps large bodies and unicode intact',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('big'), lease: A })
        const body = `["${'字'.repeat(100_000)}\\u0000 🚀"]`
        await s.checkpoint({ id: 'big', token: 'a/1', now: T0 + 1, patch: {}, body })
        expect((await s.loadRun('big'))!.checkpoints[0]!.body).toBe(body)
      }),
    )
  })

  queueLimitTests(api, name, withStore)
}
