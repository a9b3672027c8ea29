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
import type { FluxStore } from '../storage/contract.js'
import { mailboxAndListingTests } from './conformance-mailbox.js'
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
  })

  mailboxAndListingTests(api, name, withStore)
  queueLimitTests(api, name, withStore)
}
