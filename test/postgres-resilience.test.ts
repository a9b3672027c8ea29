/**
 * A backend terminated in the middle of a statement (`pg_terminate_backend`): the call fails with
 * a `StorageError` carrying the driver's error, the pool replaces the connection, and the next
 * call works — for plain verbs and for the group-commit writer alike.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest'
import { StorageError } from '../src/errors.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { sampleRun } from '../src/testing/index.js'
import {
  adminPool,
  DATABASE_URL,
  describePg,
  dropSchema,
  endAdminPool,
  uniqueSchema,
  waitForLockWaiter,
} from './helpers/pg-schema.js'

const A = { owner: 'w', token: 'w/1', expiresAt: 9e12 }
let s: PostgresStorage

beforeEach(async () => {
  s = new PostgresStorage({ connectionString: DATABASE_URL, schema: uniqueSchema(), max: 3 })
  await s.init()
})

afterEach(async () => {
  await s.close()
  await dropSchema(s.schema)
})

afterAll(endAdminPool)

/**
 * Holds the run row locked in another session, starts `call` (which blocks on the lock),
 * terminates the blocked backend, then lets go of the lock. Returns how `call` settled.
 */
async function terminateWhileBlocked<T>(
  id: string,
  call: () => Promise<T>,
): Promise<PromiseSettledResult<T>> {
  const holder = await adminPool().connect()
  try {
    await holder.query('BEGIN')
    await holder.query(`SELECT 1 FROM "${s.schema}".runs WHERE id = $1 FOR UPDATE`, [id])
    const pending = call()
    const settled = Promise.allSettled([pending]).then(([r]) => r!)
    const pid = await waitForLockWaiter(s.schema)
    await adminPool().query('SELECT pg_terminate_backend($1)', [pid])
    return await settled
  } finally {
    await holder.query('ROLLBACK')
    holder.release()
  }
}

function expectTerminated(result: PromiseSettledResult<unknown>): void {
  expect(result.status).toBe('rejected')
  const error = (result as PromiseRejectedResult).reason as StorageError
  expect(error).toBeInstanceOf(StorageError)
  expect(error.code).toBe('STORAGE')
  expect(error.cause).toBeInstanceOf(Error)
  expect(error.message).toMatch(/terminat/i)
}

describePg('PostgresStorage: terminated backends', () => {
  it('surfaces a terminated query as a StorageError, and the next call works', async () => {
    await s.createRun({ run: sampleRun('r1', { status: 'suspended', waitingFor: 'go' }) })
    const result = await terminateWhileBlocked('r1', () =>
      s.deliverSignal({ id: 'r1', name: 'go', payload: '[1]', now: 1 }),
    )
    expectTerminated(result)
    const again = await s.deliverSignal({ id: 'r1', name: 'go', payload: '[2]', now: 2 })
    expect(again.outcome).toBe('delivered')
    expect((await s.loadRun('r1'))!.signals).toEqual([{ name: 'go', payload: '[2]', at: 2 }])
  })

  it('fails the writer’s batch with a StorageError and keeps writing afterwards', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    await s.createRun({ run: sampleRun('r2'), lease: A })
    let queuedBehind: Promise<void> | undefined
    const result = await terminateWhileBlocked('r1', () => {
      const blocked = s.checkpoint({ id: 'r1', token: 'w/1', now: 1, patch: { cursor: 1 }, body: 'lost' })
      // Queued while the blocked statement is in flight: it goes out on a new connection.
      setTimeout(() => {
        queuedBehind = s.checkpoint({ id: 'r2', token: 'w/1', now: 1, patch: { cursor: 1 }, body: 'kept' })
      }, 20)
      return blocked
    })
    expectTerminated(result)
    await queuedBehind
    await s.checkpoint({ id: 'r1', token: 'w/1', now: 2, patch: { cursor: 2 }, body: 'after' })
    expect((await s.loadRun('r1'))!.checkpoints.map((c) => c.body)).toEqual(['after'])
    expect((await s.loadRun('r2'))!.checkpoints.map((c) => c.body)).toEqual(['kept'])
    expect((await s.getRun('r1'))!.cursor).toBe(2)
  })

  it('replaces the writer’s connection when it was terminated while idle', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    await s.checkpoint({ id: 'r1', token: 'w/1', now: 1, patch: {}, body: 'one' })
    const { rows } = await adminPool().query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE state = 'idle' AND (query LIKE 'WITH w AS%' OR query LIKE 'WITH upd AS%')
         AND query LIKE '%' || $1 || '%'`,
      [`"${s.schema}"`],
    )
    expect(rows).toHaveLength(1)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await s.checkpoint({ id: 'r1', token: 'w/1', now: 2, patch: {}, body: 'two' })
    expect((await s.loadRun('r1'))!.checkpoints.map((c) => c.body)).toEqual(['one', 'two'])
  })

  it('notices a writer connection terminated while the process was busy, before sending on it', async () => {
    await s.createRun({ run: sampleRun('r1'), lease: A })
    await s.checkpoint({ id: 'r1', token: 'w/1', now: 1, patch: {}, body: 'one' })
    // Another process terminates the writer's backend and waits until it is gone, while this
    // process is blocked: the FATAL lands in the socket unread, as when a service is busy in a
    // step. The next write is then issued before the event loop has read it.
    const child = `
      const pg = require('pg')
      const c = new pg.Client({ connectionString: process.argv[1] })
      const gone = async () => (await c.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle' AND query LIKE 'WITH%' AND query LIKE '%' || $1 || '%'",
        [process.argv[2]])).rows[0].n === 0
      c.connect()
        .then(() => c.query(
          "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE state = 'idle' AND query LIKE 'WITH%' AND query LIKE '%' || $1 || '%'",
          [process.argv[2]]))
        .then(async (r) => {
          if (r.rows.length !== 1) throw new Error('expected one writer backend, found ' + r.rows.length)
          while (!(await gone())) await new Promise((t) => setTimeout(t, 10))
          await c.end()
        })
        .catch((e) => { console.error(e); process.exit(1) })`
    execFileSync(process.execPath, ['-e', child, DATABASE_URL, `"${s.schema}"`], { stdio: 'inherit' })
    await s.checkpoint({ id: 'r1', token: 'w/1', now: 2, patch: {}, body: 'two' })
    expect((await s.loadRun('r1'))!.checkpoints.map((c) => c.body)).toEqual(['one', 'two'])
  })

  it('recovers when an idle pooled connection was terminated behind its back', async () => {
    await s.createRun({ run: sampleRun('r1') })
    const { rows } = await adminPool().query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = 'fluxflow' AND state = 'idle' AND pid <> pg_backend_pid()
         AND query LIKE '%' || $1 || '%'`,
      [`"${s.schema}"`],
    )
    expect(rows.length).toBeGreaterThan(0)
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The pool noticed (its 'error' listener kept the process alive) and hands out a live client.
    expect((await s.getRun('r1'))?.id).toBe('r1')
  })
})
