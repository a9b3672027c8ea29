/**
 * The crash-point tests, shared by every durable store (crash-sqlite.test.ts, crash-postgres.test.ts):
 * real child processes killed by SIGKILL at named points, an append-only side-effect log, and
 * the invariants that must hold afterwards. A store plugs in through a {@link CrashTarget}.
 */
import { type describe, expect, it } from 'vitest'
import { decodeBody, foldSnapshot, type StoredStep } from '../../src/codec/checkpoint.js'
import { defaultSerializer } from '../../src/codec/codec.js'
import type { FluxStore, RunSnapshot } from '../../src/storage/contract.js'
import type { WorkflowStorage } from '../../src/types.js'
import { type Child, count, type Effect, runChild, startChild, workspace } from './crash.js'

/** A store the parent opens to inspect what the children left behind. */
export type InspectedStore = FluxStore & WorkflowStorage

/** One store under test. */
export interface CrashTarget {
  /** Shown in test names: `SQLite`, `Postgres`. */
  name: string
  /** `describe`, or a skipping one when the store is unavailable. */
  describe: typeof describe
  /** The child script (test/crash/child.mjs or pg-child.mjs). */
  script: string
  /**
   * A fresh, empty store for one test (`dir` is the test's own temporary folder): the options
   * every child gets to reach it, and how to open it here.
   */
  fresh(dir: string): Promise<{ at: Record<string, unknown>; open(): Promise<InspectedStore> }>
  /**
   * Lease of the "another worker only after the lease expired" test. It must outlast the start of
   * a child process and its first claim, which is slower against a server than on a file.
   */
  commitLeaseMs?: number
}

/** A test's workspace on a target: the side-effect log, the hang file, and children bound to the store. */
export async function crashWorkspace(target: CrashTarget, name: string) {
  const w = workspace(name)
  const store = await target.fresh(w.dir)
  const withStore = (options: Record<string, unknown>) => ({ ...store.at, log: w.log, ...options })
  return {
    ...w,
    /** Child options that reach this test's store (merge into your own). */
    at: store.at,
    open: store.open,
    start: (options: Record<string, unknown>): Child => startChild(withStore(options), target.script),
    run: (options: Record<string, unknown>, timeoutMs?: number): Promise<unknown> =>
      runChild(withStore(options), target.script, timeoutMs),
  }
}

/**
 * Per step index: how many times the run's checkpoint history recorded it completed, and the time
 * of its first recorded completion. A completed record written again with a different
 * `completedAt` counts as a second completion: a rerun of a completed plain step writes no
 * `running` record before its new completion, so only the time tells it apart.
 */
export function completionRecords(snapshot: RunSnapshot): {
  counts: Map<number, number>
  first: Map<number, number>
} {
  const counts = new Map<number, number>()
  const first = new Map<number, number>()
  const last = new Map<number, StoredStep>()
  for (const cp of snapshot.checkpoints) {
    const body = decodeBody(defaultSerializer, snapshot.run.id, cp.seq, cp.body)
    for (const [i, rec] of body.h ?? []) {
      const previous = last.get(i)
      if (
        rec.status === 'completed' &&
        (previous?.status !== 'completed' || previous.completedAt !== rec.completedAt)
      ) {
        counts.set(i, (counts.get(i) ?? 0) + 1)
        if (!first.has(i) && rec.completedAt !== undefined) first.set(i, rec.completedAt)
      }
      last.set(i, rec)
    }
  }
  return { counts, first }
}

/** How many times each step index was recorded `completed` in the run's checkpoint history. */
export async function completions(store: FluxStore, id: string): Promise<Map<number, number>> {
  const snap = await store.loadRun(id)
  return completionRecords(snap!).counts
}

/** Effects grouped by run, each group in log order. */
export function effectsByRun(effects: Effect[]): Map<string, Effect[]> {
  const byRun = new Map<string, Effect[]>()
  for (const e of effects) {
    const list = byRun.get(e.run)
    if (list) list.push(e)
    else byRun.set(e.run, [e])
  }
  return byRun
}

const MIXED_STEPS = ['a', 'charge', 'flaky', 'nap', 'ship', 'done'] as const
const MIXED_COMMITS = ['charge', 'ship'] as const

/**
 * The invariants of `run-0 … run-<runs-1>` of the `mixed` workflow (test/crash/workflows.mjs),
 * however often their processes were killed: each completed with the right data; each step
 * recorded completed exactly once; no step or commit executed after it was first recorded
 * completed; every execution of a commit carried the run's one idempotency key.
 */
export async function expectMixedRunsIntact(
  store: FluxStore,
  effects: Effect[],
  runs: number,
): Promise<void> {
  const byRun = effectsByRun(effects)
  const snapshots = new Map<string, RunSnapshot | null>()
  // Loaded a few at a time: thousands of runs one by one would dominate the test's time.
  let next = 0
  const lane = async () => {
    for (let n = next++; n < runs; n = next++) snapshots.set(`run-${n}`, await store.loadRun(`run-${n}`))
  }
  await Promise.all(Array.from({ length: 8 }, lane))
  for (let n = 0; n < runs; n++) {
    const id = `run-${n}`
    const snap = snapshots.get(id)
    expect(snap, id).toBeTruthy()
    const state = foldSnapshot(defaultSerializer, snap!)
    expect(snap!.run.status, id).toBe('completed')
    expect(state.data.total, id).toBe(n + 1)
    // Each step was recorded completed exactly once: nothing completed ran again.
    const { counts, first } = completionRecords(snap!)
    expect([...counts.values()], id).toEqual([1, 1, 1, 1, 1, 1])
    const mine = byRun.get(id) ?? []
    for (const [index, step] of MIXED_STEPS.entries()) {
      if (step === 'nap') continue
      const ran = mine.filter((e) => e.step === step)
      expect(ran.length, `${id} ${step}`).toBeGreaterThanOrEqual(1)
      // No execution after the step's recorded completion (the final record, and the first).
      const completedAt = state.history[index]!.completedAt!
      const firstCompletedAt = first.get(index)!
      for (const r of ran) {
        expect(r.t, `${id} ${step} ran after completing`).toBeLessThanOrEqual(completedAt)
        expect(r.t, `${id} ${step} ran after its first completion`).toBeLessThanOrEqual(firstCompletedAt)
      }
    }
    // Commits: every execution used the run's one key for that commit.
    for (const commit of MIXED_COMMITS) {
      expect(new Set(mine.filter((e) => e.step === commit).map((c) => c.key)), `${id} ${commit}`).toEqual(
        new Set([`${id}:${commit}`]),
      )
    }
  }
}

/** The crash-point tests and the random-kill loop, on one store. */
export function crashSuite(target: CrashTarget): void {
  const space = (name: string) => crashWorkspace(target, name)

  target.describe(`crash recovery on ${target.name} (kill -9)`, () => {
    it('a step interrupted by a crash re-runs; completed steps and commits do not', async () => {
      const w = await space('step')
      w.hangAt('s2')
      const first = w.start({ hang: w.hang, workerId: 'w1', action: 'execute', flow: 'basic', id: 'r1' })
      await first.waitFor('READY s2')
      await first.kill()
      w.hangAt(null)
      // Same workerId: the restarted process takes its previous incarnation's run over at once.
      expect(await w.run({ hang: w.hang, workerId: 'w1', action: 'recover', flow: 'basic' })).toEqual({
        ids: ['r1'],
      })
      const e = w.effects()
      expect([
        count(e, 'r1', 's1').length,
        count(e, 'r1', 's2').length,
        count(e, 'r1', 'c1').length,
        count(e, 'r1', 's3').length,
      ]).toEqual([1, 2, 1, 1])
      const store = await w.open()
      expect((await store.getRun('r1'))!.status).toBe('completed')
      expect([...(await completions(store, 'r1')).values()]).toEqual([1, 1, 1, 1])
    })

    it('a commit interrupted mid-way re-runs with the same idempotency key; after the lease expires for another worker', async () => {
      const leaseMs = target.commitLeaseMs ?? 1500
      const w = await space('commit')
      w.hangAt('c1')
      const first = w.start({
        hang: w.hang,
        workerId: 'w1',
        leaseMs,
        action: 'execute',
        flow: 'basic',
        id: 'r1',
      })
      await first.waitFor('READY c1')
      await first.kill()
      w.hangAt(null)
      // Another worker cannot take it before the lease expires...
      expect(await w.run({ workerId: 'w2', action: 'recover', flow: 'basic' })).toEqual({ ids: [] })
      await new Promise((r) => setTimeout(r, leaseMs + 100))
      // ...and takes it after.
      expect(await w.run({ workerId: 'w2', action: 'recover', flow: 'basic' })).toEqual({ ids: ['r1'] })
      const e = w.effects()
      const commits = count(e, 'r1', 'c1')
      expect(commits).toHaveLength(2)
      expect(new Set(commits.map((c) => c.key))).toEqual(new Set(['r1:c1']))
      expect(commits.map((c) => c.attempt)).toEqual([1, 2])
      expect([count(e, 'r1', 's1').length, count(e, 'r1', 's2').length, count(e, 'r1', 's3').length]).toEqual(
        [1, 1, 1],
      )
      const store = await w.open()
      expect((await store.getRun('r1'))!.status).toBe('completed')
      expect([...(await completions(store, 'r1')).values()]).toEqual([1, 1, 1, 1])
    })

    it('a completed commit never runs again, even when the crash comes right after it', async () => {
      const w = await space('after-commit')
      w.hangAt('s3')
      const first = w.start({ hang: w.hang, workerId: 'w1', action: 'execute', flow: 'basic', id: 'r1' })
      await first.waitFor('READY s3')
      await first.kill()
      w.hangAt(null)
      await w.run({ workerId: 'w1', action: 'recover', flow: 'basic' })
      const e = w.effects()
      expect(count(e, 'r1', 'c1')).toHaveLength(1)
      expect(count(e, 'r1', 's3')).toHaveLength(2)
    })

    it('a crash during backoff keeps the attempt count and the retry time', async () => {
      const w = await space('backoff')
      const first = w.start({ workerId: 'w1', action: 'execute', flow: 'backoff', id: 'r1' })
      await first.waitFor('READY retry-s2')
      await first.kill()
      const killedAt = Date.now()
      await w.run({ workerId: 'w1', action: 'recover', flow: 'backoff' })
      const attempts = count(w.effects(), 'r1', 's2')
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2])
      // The second attempt waited out the stored backoff (2 s after the first), not a fresh one.
      expect(attempts[1]!.t - attempts[0]!.t).toBeGreaterThanOrEqual(1990)
      expect(attempts[1]!.t - killedAt).toBeLessThan(2500)
      const store = await w.open()
      const state = await store.load('r1')
      expect(state!.status).toBe('completed')
      expect(state!.history[1]).toMatchObject({ status: 'completed', attempts: 2, retries: 1 })
    })

    it('a run sleeping when its process dies wakes on time in the next one', async () => {
      const w = await space('sleep')
      const first = w.start({ workerId: 'w1', action: 'execute', flow: 'sleeper', id: 'r1' })
      await first.waitFor('READY suspended')
      const sleptAt = Date.now()
      await first.kill()
      const store = await w.open()
      expect((await store.getRun('r1'))!.status).toBe('suspended')
      const worker = w.start({ workerId: 'w2', action: 'worker', flow: 'sleeper' })
      await worker.waitFor('READY worker')
      for (let i = 0; i < 100 && (await store.getRun('r1'))!.status !== 'completed'; i++)
        await new Promise((r) => setTimeout(r, 50))
      await worker.kill()
      const e = w.effects()
      expect(count(e, 'r1', 's1')).toHaveLength(1)
      expect(count(e, 'r1', 's2')).toHaveLength(1)
      expect(count(e, 'r1', 's2')[0]!.t - sleptAt).toBeGreaterThanOrEqual(1400)
      expect((await store.getRun('r1'))!.status).toBe('completed')
    })

    it('a signal stored just before a crash is neither lost nor delivered twice', async () => {
      const w = await space('signal')
      expect(await w.run({ workerId: 'w1', action: 'execute', flow: 'signalled', id: 'r1' })).toEqual({
        status: 'suspended',
      })
      const sender = w.start({
        workerId: 'web',
        action: 'store-signal',
        flow: 'signalled',
        id: 'r1',
        signal: 'go',
        payload: { ok: 1 },
      })
      await sender.waitFor('READY signal-stored')
      await sender.kill()
      expect(await w.run({ workerId: 'w2', action: 'recover', flow: 'signalled' })).toEqual({ ids: ['r1'] })
      const e = w.effects()
      expect(count(e, 'r1', 's2').map((x) => x.payload)).toEqual([{ ok: 1 }])
      const store = await w.open()
      const snap = await store.loadRun('r1')
      expect(snap!.signals).toEqual([])
      expect(snap!.run.status).toBe('completed')
      expect([...(await completions(store, 'r1')).values()]).toEqual([1, 1, 1])
    })

    it('a crash in the step after a consumed signal re-runs that step, with the same payload, once more', async () => {
      const w = await space('signal-next')
      await w.run({ workerId: 'w1', action: 'execute', flow: 'signalled', id: 'r1' })
      w.hangAt('s2')
      const signaller = w.start({
        hang: w.hang,
        workerId: 'w2',
        action: 'signal',
        flow: 'signalled',
        id: 'r1',
        signal: 'go',
        payload: 'yes',
      })
      await signaller.waitFor('READY s2')
      await signaller.kill()
      w.hangAt(null)
      await w.run({ workerId: 'w2', action: 'recover', flow: 'signalled' })
      expect(count(w.effects(), 'r1', 's2').map((x) => x.payload)).toEqual(['yes', 'yes'])
      const store = await w.open()
      expect((await store.getRun('r1'))!.status).toBe('completed')
    })

    it('a crash during compensation continues the walk: the interrupted compensation re-runs, finished ones do not', async () => {
      const w = await space('saga')
      w.hangAt('undo-s1')
      const first = w.start({ hang: w.hang, workerId: 'w1', action: 'execute', flow: 'saga', id: 'r1' })
      await first.waitFor('READY undo-s1')
      await first.kill()
      w.hangAt(null)
      const store = await w.open()
      expect((await store.getRun('r1'))!.status).toBe('rolling_back')
      await w.run({ workerId: 'w1', action: 'recover', flow: 'saga' })
      const e = w.effects()
      expect(count(e, 'r1', 'undo-s2')).toHaveLength(1)
      expect(count(e, 'r1', 'undo-s1')).toHaveLength(2)
      expect(count(e, 'r1', 'boom')).toHaveLength(1)
      const state = await store.load('r1')
      expect(state!.status).toBe('rolled_back')
      expect(state!.history.map((h) => h.status)).toEqual(['compensated', 'compensated', 'failed'])
    })
  })

  target.describe(`random kills on ${target.name}`, () => {
    const kills = Number(process.env.CRASH_KILLS ?? (process.env.CI ? 50 : 12))
    const runs = 40

    it(`survives ${kills} SIGKILLs at random points with nothing recorded run twice`, async () => {
      const w = await space('random')
      for (let k = 0; k < kills; k++) {
        const child = w.start({ workerId: 'random-worker', action: 'worker', flow: 'mixed', count: runs })
        await child.waitFor('READY worker')
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 200))
        await child.kill()
      }
      // A last worker finishes everything.
      expect(
        await w.run({ workerId: 'random-worker', action: 'worker', flow: 'mixed', count: runs }),
      ).toEqual({
        completed: true,
      })
      await expectMixedRunsIntact(await w.open(), w.effects(), runs)
    }, 600_000)
  })
}
