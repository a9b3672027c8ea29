/**
 * The contract of `claimDue({ queueLimits })`, part of the conformance suite: a cap per queue on
 * the runs holding a live lease, counted across every holder, atomic across claimers, and a full
 * queue never holding back the others.
 */
import type { ClaimDueParams, FluxStore, RunSnapshot } from '../storage/contract.js'
import { testLease as lease, sampleRun, T0, type TestApi } from './sample-run.js'

const NOW = T0 + 1000

/** Claims as `owner` at {@link NOW}; `limits` become `queueLimits`. */
function claim(
  s: FluxStore,
  owner: string,
  limits: ClaimDueParams['queueLimits'] | undefined,
  extra: Partial<ClaimDueParams> = {},
): Promise<RunSnapshot[]> {
  return s.claimDue({
    lease: lease(owner, `${owner}/1`),
    now: NOW,
    definitionKeys: ['wf#h1'],
    limit: 10,
    ...(limits ? { queueLimits: limits } : {}),
    ...extra,
  })
}

const ids = (snapshots: RunSnapshot[]) => snapshots.map((c) => c.run.id)

/** `count` pending runs `<prefix>00`, `<prefix>01`… on `queue`, created one ms apart from `from`. */
async function pending(s: FluxStore, prefix: string, count: number, queue: string, from = T0): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${String(i).padStart(2, '0')}`
    await s.createRun({ run: sampleRun(id, { status: 'pending', queue, createdAt: from + i }) })
  }
}

/** Registers the queue-limit tests of the contract (called by `runStoreConformance`). */
export function queueLimitTests(
  api: TestApi,
  name: string,
  withStore: (fn: (store: FluxStore) => Promise<void>) => () => Promise<void>,
): void {
  const { describe, it, expect } = api

  describe(`${name}: queue limits`, () => {
    it(
      'counts the live leases of every holder against the cap',
      withStore(async (s) => {
        await s.createRun({
          run: sampleRun('held-x', { queue: 'mail' }),
          lease: lease('x', 'x/1', NOW + 5000),
        })
        await s.createRun({
          run: sampleRun('held-y', { queue: 'mail' }),
          lease: lease('y', 'y/1', NOW + 5000),
        })
        await pending(s, 'm', 5, 'mail')
        expect(ids(await claim(s, 'w', { mail: 3 }))).toEqual(['m00'])
        // Full now: its own fresh lease counts as well as the others'.
        expect(await claim(s, 'v', { mail: 3 })).toEqual([])
        expect(await claim(s, 'w', { mail: 3 }, { lease: lease('w', 'w/2') })).toEqual([])
        expect(ids(await claim(s, 'v', { mail: 4 }))).toEqual(['m01'])
        // A cap binds only the claims that pass it.
        expect(ids(await claim(s, 'u', undefined))).toEqual(['m02', 'm03', 'm04'])
      }),
    )

    it(
      'does not count expired leases, released runs, or runs at rest',
      withStore(async (s) => {
        const mail = { queue: 'mail' }
        await s.createRun({ run: sampleRun('gone-1', mail), lease: lease('dead', 'd/1', NOW - 1) })
        // A lease that expires exactly now is no longer live.
        await s.createRun({ run: sampleRun('gone-2', mail), lease: lease('dead', 'd/2', NOW) })
        await s.createRun({ run: sampleRun('released', mail) })
        await s.createRun({ run: sampleRun('parked', { ...mail, status: 'suspended', waitingFor: 'go' }) })
        await s.createRun({ run: sampleRun('done', { ...mail, status: 'completed' }) })
        await pending(s, 'm', 4, 'mail')
        expect(ids(await claim(s, 'w', { mail: 2 }, { kinds: ['pending'] }))).toEqual(['m00', 'm01'])
        // Two live leases now: one slot left for the orphans.
        const orphans = await claim(s, 'v', { mail: 3 }, { kinds: ['orphaned'] })
        expect(orphans).toHaveLength(1)
        expect(await claim(s, 'u', { mail: 3 })).toEqual([])
      }),
    )

    it(
      'skips a full queue and claims the others, however long its backlog',
      withStore(async (s) => {
        await s.createRun({ run: sampleRun('busy', { queue: 'mail' }), lease: lease('x', 'x/1', NOW + 5000) })
        // Thirty older and more urgent runs of the full queue come first in claim order.
        await pending(s, 'm', 30, 'mail')
        await s.createRun({ run: sampleRun('urgent', { status: 'pending', queue: 'mail', priority: 9 }) })
        await pending(s, 'd', 4, 'default', T0 + 100)
        expect(ids(await claim(s, 'w', { mail: 1 }, { limit: 3 }))).toEqual(['d00', 'd01', 'd02'])
        expect(ids(await claim(s, 'v', { mail: 1, default: 5 }))).toEqual(['d03'])
      }),
    )

    it(
      "takes a capped queue's runs in claim order up to its cap, the rest from other queues",
      withStore(async (s) => {
        await pending(s, 'm', 20, 'mail')
        await s.createRun({ run: sampleRun('urgent', { status: 'pending', priority: 5 }) })
        await pending(s, 'd', 3, 'default', T0 + 50)
        const claimed = await claim(s, 'w', { mail: 2 }, { limit: 5 })
        expect(ids(claimed)).toEqual(['urgent', 'm00', 'm01', 'd00', 'd01'])
        for (const c of claimed) expect(c.run.leaseToken).toBe('w/1')
      }),
    )

    it(
      'keeps claim order across many queues and every kind of due run',
      withStore(async (s) => {
        // More queues than a store may care to read one by one.
        for (let q = 0; q < 40; q++) {
          const queue = `q${String(q).padStart(2, '0')}`
          await s.createRun({
            run: sampleRun(`${queue}-run`, { status: 'pending', queue, createdAt: T0 + 100 + q }),
          })
        }
        // The oldest run is on the queue whose name sorts last.
        await s.createRun({ run: sampleRun('zz-run', { status: 'pending', queue: 'zz', createdAt: T0 - 3 }) })
        await pending(s, 'm', 30, 'mail')
        await s.createRun({
          run: sampleRun('m-orphan', { queue: 'mail', createdAt: T0 - 2 }),
          lease: lease('dead', 'd/1', NOW - 1),
        })
        await s.createRun({
          run: sampleRun('m-timer', { status: 'suspended', queue: 'mail', wakeAt: T0 - 1 }),
        })
        await s.createRun({
          run: sampleRun('q07-timer', { status: 'suspended', queue: 'q07', wakeAt: T0 + 99 }),
        })
        const claimed = await claim(s, 'w', { mail: 3, q03: 0 }, { limit: 8 })
        expect(ids(claimed)).toEqual([
          'zz-run',
          'm-orphan',
          'm-timer',
          'm00',
          'q07-timer',
          'q00-run',
          'q01-run',
          'q02-run',
        ])
        // mail is full now and q03 held: the other queues follow in order.
        const next = await claim(s, 'v', { mail: 3, q03: 0 }, { limit: 3 })
        expect(ids(next)).toEqual(['q04-run', 'q05-run', 'q06-run'])
      }),
    )

    it(
      'never lets concurrent claimers exceed a cap together',
      withStore(async (s) => {
        await pending(s, 'm', 20, 'mail')
        await pending(s, 'd', 10, 'default', T0 + 5)
        const owners = ['a', 'b', 'c', 'd']
        const rounds: string[][] = []
        for (let round = 0; round < 2; round++) {
          const results = await Promise.all(
            owners.map((o) => claim(s, `${o}${round}`, { mail: 3 }, { limit: 8 })),
          )
          rounds.push(results.flatMap(ids))
        }
        const [first, second] = rounds as [string[], string[]]
        expect(new Set(first).size).toBe(first.length)
        expect(first.filter((id) => id.startsWith('m'))).toHaveLength(3)
        expect(first.filter((id) => id.startsWith('d')).sort()).toEqual(
          Array.from({ length: 10 }, (_, i) => `d${String(i).padStart(2, '0')}`),
        )
        expect(second).toEqual([])
        const { runs } = await s.listRuns({ statuses: ['pending'] })
        const live = runs.filter((r) => r.queue === 'mail' && r.leaseToken !== null)
        expect(live).toHaveLength(3)
      }),
    )

    it(
      'leaves queues it does not cap alone; a cap of 0 holds its queue',
      withStore(async (s) => {
        await pending(s, 'd', 5, 'default')
        await pending(s, 'm', 2, 'mail', T0 - 10)
        const limits = { mail: 0, sms: 1, default: Number.POSITIVE_INFINITY }
        expect(ids(await claim(s, 'w', limits))).toEqual(['d00', 'd01', 'd02', 'd03', 'd04'])
        // A cap on a queue outside the claim's `queues` changes nothing.
        expect(await claim(s, 'v', { default: 0 }, { queues: ['mail'], limit: 1 })).toHaveLength(1)
        expect(ids(await claim(s, 'u', { mail: 0 }))).toEqual([])
      }),
    )

    it(
      "takes over an earlier incarnation's live lease only into a free slot",
      withStore(async (s) => {
        await s.createRun({
          run: sampleRun('mine', { queue: 'mail' }),
          lease: lease('w', 'w/old', NOW + 5000),
        })
        expect(await claim(s, 'w', { mail: 1 }, { lease: lease('w', 'w/new') })).toEqual([])
        expect(ids(await claim(s, 'w', { mail: 2 }, { lease: lease('w', 'w/new') }))).toEqual(['mine'])
      }),
    )
  })
}
