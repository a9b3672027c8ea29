/**
 * Crash semantics on SQLite, with real processes killed by SIGKILL at named points.
 * Each test checks, with an append-only side-effect log, that nothing recorded ran again and
 * every run ends in its correct final state.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { decodeBody, type StoredStep } from '../src/codec/checkpoint.js'
import { defaultSerializer } from '../src/codec/codec.js'
import { SqliteStorage } from '../src/sqlite.js'
import { count, runChild, startChild, workspace } from './helpers/crash.js'

const stores: SqliteStorage[] = []
afterAll(async () => {
  for (const s of stores) await s.close()
})

async function open(db: string) {
  const store = new SqliteStorage({ path: db })
  await store.init()
  stores.push(store)
  return store
}

/** How many times each step index was recorded `completed` in the run's checkpoint history. */
async function completions(store: SqliteStorage, id: string): Promise<Map<number, number>> {
  const snap = await store.loadRun(id)
  const counts = new Map<number, number>()
  const last = new Map<number, StoredStep>()
  for (const cp of snap!.checkpoints) {
    const body = decodeBody(defaultSerializer, id, cp.seq, cp.body)
    for (const [i, rec] of body.h ?? []) {
      if (rec.status === 'completed' && last.get(i)?.status !== 'completed')
        counts.set(i, (counts.get(i) ?? 0) + 1)
      last.set(i, rec)
    }
  }
  return counts
}

describe('crash recovery on SQLite (kill -9)', () => {
  it('a step interrupted by a crash re-runs; completed steps and commits do not', async () => {
    const w = workspace('step')
    w.hangAt('s2')
    const first = startChild({
      db: w.db,
      log: w.log,
      hang: w.hang,
      workerId: 'w1',
      action: 'execute',
      flow: 'basic',
      id: 'r1',
    })
    await first.waitFor('READY s2')
    await first.kill()
    w.hangAt(null)
    // Same workerId: the restarted process takes its previous incarnation's run over at once.
    expect(
      await runChild({
        db: w.db,
        log: w.log,
        hang: w.hang,
        workerId: 'w1',
        action: 'recover',
        flow: 'basic',
      }),
    ).toEqual({ ids: ['r1'] })
    const e = w.effects()
    expect([
      count(e, 'r1', 's1').length,
      count(e, 'r1', 's2').length,
      count(e, 'r1', 'c1').length,
      count(e, 'r1', 's3').length,
    ]).toEqual([1, 2, 1, 1])
    const store = await open(w.db)
    expect((await store.getRun('r1'))!.status).toBe('completed')
    expect([...(await completions(store, 'r1')).values()]).toEqual([1, 1, 1, 1])
  })

  it('a commit interrupted mid-way re-runs with the same idempotency key; after the lease expires for another worker', async () => {
    const w = workspace('commit')
    w.hangAt('c1')
    const first = startChild({
      db: w.db,
      log: w.log,
      hang: w.hang,
      workerId: 'w1',
      leaseMs: 1500,
      action: 'execute',
      flow: 'basic',
      id: 'r1',
    })
    await first.waitFor('READY c1')
    await first.kill()
    w.hangAt(null)
    // Another worker cannot take it before the lease expires...
    expect(
      await runChild({ db: w.db, log: w.log, workerId: 'w2', action: 'recover', flow: 'basic' }),
    ).toEqual({ ids: [] })
    await new Promise((r) => setTimeout(r, 1600))
    // ...and takes it after.
    expect(
      await runChild({ db: w.db, log: w.log, workerId: 'w2', action: 'recover', flow: 'basic' }),
    ).toEqual({ ids: ['r1'] })
    const e = w.effects()
    const commits = count(e, 'r1', 'c1')
    expect(commits).toHaveLength(2)
    expect(new Set(commits.map((c) => c.key))).toEqual(new Set(['r1:c1']))
    expect(commits.map((c) => c.attempt)).toEqual([1, 2])
    expect([count(e, 'r1', 's1').length, count(e, 'r1', 's2').length, count(e, 'r1', 's3').length]).toEqual([
      1, 1, 1,
    ])
    const store = await open(w.db)
    expect((await store.getRun('r1'))!.status).toBe('completed')
    expect([...(await completions(store, 'r1')).values()]).toEqual([1, 1, 1, 1])
  })

  it('a completed commit never runs again, even when the crash comes right after it', async () => {
    const w = workspace('after-commit')
    w.hangAt('s3')
    const first = startChild({
      db: w.db,
      log: w.log,
      hang: w.hang,
      workerId: 'w1',
      action: 'execute',
      flow: 'basic',
      id: 'r1',
    })
    await first.waitFor('READY s3')
    await first.kill()
    w.hangAt(null)
    await runChild({ db: w.db, log: w.log, workerId: 'w1', action: 'recover', flow: 'basic' })
    const e = w.effects()
    expect(count(e, 'r1', 'c1')).toHaveLength(1)
    expect(count(e, 'r1', 's3')).toHaveLength(2)
  })

  it('a crash during backoff keeps the attempt count and the retry time', async () => {
    const w = workspace('backoff')
    const first = startChild({
      db: w.db,
      log: w.log,
      workerId: 'w1',
      action: 'execute',
      flow: 'backoff',
      id: 'r1',
    })
    await first.waitFor('READY retry-s2')
    await first.kill()
    const killedAt = Date.now()
    await runChild({ db: w.db, log: w.log, workerId: 'w1', action: 'recover', flow: 'backoff' })
    const attempts = count(w.effects(), 'r1', 's2')
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2])
    // The second attempt waited out the stored backoff (2 s after the first), not a fresh one.
    expect(attempts[1]!.t - attempts[0]!.t).toBeGreaterThanOrEqual(1990)
    expect(attempts[1]!.t - killedAt).toBeLessThan(2500)
    const store = await open(w.db)
    const state = await store.load('r1')
    expect(state!.status).toBe('completed')
    expect(state!.history[1]).toMatchObject({ status: 'completed', attempts: 2, retries: 1 })
  })

  it('a run sleeping when its process dies wakes on time in the next one', async () => {
    const w = workspace('sleep')
    const first = startChild({
      db: w.db,
      log: w.log,
      workerId: 'w1',
      action: 'execute',
      flow: 'sleeper',
      id: 'r1',
    })
    await first.waitFor('READY suspended')
    const sleptAt = Date.now()
    await first.kill()
    const store = await open(w.db)
    expect((await store.getRun('r1'))!.status).toBe('suspended')
    const worker = startChild({ db: w.db, log: w.log, workerId: 'w2', action: 'worker', flow: 'sleeper' })
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
    const w = workspace('signal')
    expect(
      await runChild({
        db: w.db,
        log: w.log,
        workerId: 'w1',
        action: 'execute',
        flow: 'signalled',
        id: 'r1',
      }),
    ).toEqual({ status: 'suspended' })
    const sender = startChild({
      db: w.db,
      log: w.log,
      workerId: 'web',
      action: 'store-signal',
      flow: 'signalled',
      id: 'r1',
      signal: 'go',
      payload: { ok: 1 },
    })
    await sender.waitFor('READY signal-stored')
    await sender.kill()
    expect(
      await runChild({ db: w.db, log: w.log, workerId: 'w2', action: 'recover', flow: 'signalled' }),
    ).toEqual({ ids: ['r1'] })
    const e = w.effects()
    expect(count(e, 'r1', 's2').map((x) => x.payload)).toEqual([{ ok: 1 }])
    const store = await open(w.db)
    const snap = await store.loadRun('r1')
    expect(snap!.signals).toEqual([])
    expect(snap!.run.status).toBe('completed')
    expect([...(await completions(store, 'r1')).values()]).toEqual([1, 1, 1])
  })

  it('a crash in the step after a consumed signal re-runs that step, with the same payload, once more', async () => {
    const w = workspace('signal-next')
    await runChild({ db: w.db, log: w.log, workerId: 'w1', action: 'execute', flow: 'signalled', id: 'r1' })
    w.hangAt('s2')
    const signaller = startChild({
      db: w.db,
      log: w.log,
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
    await runChild({ db: w.db, log: w.log, workerId: 'w2', action: 'recover', flow: 'signalled' })
    expect(count(w.effects(), 'r1', 's2').map((x) => x.payload)).toEqual(['yes', 'yes'])
    const store = await open(w.db)
    expect((await store.getRun('r1'))!.status).toBe('completed')
  })

  it('a crash during compensation continues the walk: the interrupted compensation re-runs, finished ones do not', async () => {
    const w = workspace('saga')
    w.hangAt('undo-s1')
    const first = startChild({
      db: w.db,
      log: w.log,
      hang: w.hang,
      workerId: 'w1',
      action: 'execute',
      flow: 'saga',
      id: 'r1',
    })
    await first.waitFor('READY undo-s1')
    await first.kill()
    w.hangAt(null)
    const store = await open(w.db)
    expect((await store.getRun('r1'))!.status).toBe('rolling_back')
    await runChild({ db: w.db, log: w.log, workerId: 'w1', action: 'recover', flow: 'saga' })
    const e = w.effects()
    expect(count(e, 'r1', 'undo-s2')).toHaveLength(1)
    expect(count(e, 'r1', 'undo-s1')).toHaveLength(2)
    expect(count(e, 'r1', 'boom')).toHaveLength(1)
    const state = await store.load('r1')
    expect(state!.status).toBe('rolled_back')
    expect(state!.history.map((h) => h.status)).toEqual(['compensated', 'compensated', 'failed'])
  })
})

describe('random kills on SQLite', () => {
  const kills = Number(process.env.CRASH_KILLS ?? (process.env.CI ? 50 : 12))
  const runs = 40

  it(`survives ${kills} SIGKILLs at random points with nothing recorded run twice`, async () => {
    const w = workspace('random')
    for (let k = 0; k < kills; k++) {
      const child = startChild({
        db: w.db,
        log: w.log,
        workerId: 'random-worker',
        action: 'worker',
        flow: 'mixed',
        count: runs,
      })
      await child.waitFor('READY worker')
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 200))
      await child.kill()
    }
    // A last worker finishes everything.
    expect(
      await runChild({
        db: w.db,
        log: w.log,
        workerId: 'random-worker',
        action: 'worker',
        flow: 'mixed',
        count: runs,
      }),
    ).toEqual({ completed: true })

    const store = await open(w.db)
    const effects = w.effects()
    for (let n = 0; n < runs; n++) {
      const id = `run-${n}`
      const state = await store.load(id)
      expect(state!.status, id).toBe('completed')
      expect(state!.data.total, id).toBe(n + 1)
      // Each step was recorded completed exactly once: nothing completed ran again.
      const done = await completions(store, id)
      expect([...done.values()], id).toEqual([1, 1, 1, 1, 1, 1])
      for (const [index, step] of ['a', 'charge', 'flaky', 'nap', 'ship', 'done'].entries()) {
        if (step === 'nap') continue
        const ran = count(effects, id, step)
        expect(ran.length, `${id} ${step}`).toBeGreaterThanOrEqual(1)
        // No execution after the step's recorded completion.
        const completedAt = state!.history[index]!.completedAt!.getTime()
        for (const r of ran)
          expect(r.t, `${id} ${step} ran after completing`).toBeLessThanOrEqual(completedAt)
      }
      // Commits: every execution used the run's one key for that commit.
      for (const commit of ['charge', 'ship']) {
        expect(new Set(count(effects, id, commit).map((c) => c.key)), `${id} ${commit}`).toEqual(
          new Set([`${id}:${commit}`]),
        )
      }
    }
  }, 600_000)
})
