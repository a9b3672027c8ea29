/**
 * The storage contract, part 2: the signal mailbox, parking, cancelling, listing, hostile
 * strings, copies and large bodies. Registered by {@link runStoreConformance}.
 */
import { LeaseLostError } from '../errors.js'
import type { FluxStore, RunRecord } from '../storage/contract.js'
import type { WorkflowStatus } from '../types.js'
import { testLease as lease, sampleRun, T0, type TestApi } from './sample-run.js'

export function mailboxAndListingTests(
  api: TestApi,
  name: string,
  withStore: (fn: (store: FluxStore) => Promise<void>) => () => Promise<void>,
): void {
  const { describe, it, expect } = api
  const A = lease('worker-a', 'a/1')

  describe(`${name}: storage contract (mailbox, listing, copies)`, () => {
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
}
