/**
 * What the conformance suite cannot see about SqliteStorage: migrations, several processes on
 * one file, corrupt rows, group commit, table names, PRAGMAs and the open/close lifecycle.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { BunSQLiteStorage } from '../src/bun.js'
import { createWorkflow, FluxEngine, FluxSilentLogger, LeaseLostError, StorageError } from '../src/index.js'
import type { RunPatch } from '../src/storage/contract.js'
import { SqliteConnection } from '../src/storage/sqlite/driver.js'
import { appliedMigrations, MIGRATIONS, migrate, SCHEMA_VERSION } from '../src/storage/sqlite/migrations.js'
import { resolveTables } from '../src/storage/sqlite/sql.js'
import { SqliteStorage } from '../src/storage/sqlite/sqlite-storage.js'
import { sampleRun } from '../src/testing/index.js'
import { tempDir } from './helpers/sqlite-temp.js'

const temp = tempDir()
afterAll(() => temp.remove())

const T0 = 1_700_000_000_000
const LEASE = { owner: 'w', token: 'w/1', expiresAt: T0 + 60_000 }

async function opened(options: ConstructorParameters<typeof SqliteStorage>[0] = {}) {
  const storage = new SqliteStorage({ path: temp.file(), ...options })
  await storage.init()
  return storage
}

function raw(storage: SqliteStorage): Database.Database {
  return storage.getDatabase() as unknown as Database.Database
}

describe('SqliteStorage: migrations', () => {
  it('upgrades a file left at schema version 1 and keeps its data; opening again is a no-op', async () => {
    const path = temp.file()
    const tables = resolveTables({})
    const old = new Database(path)
    expect(migrate(new SqliteConnection(old), tables, { target: 1, now: T0 })).toEqual([1])
    old
      .prepare(
        `INSERT INTO flux_runs (id, workflow_name, definition_hash, definition_key, status, input, meta,
          created_at, updated_at) VALUES ('old', 'wf', 'h1', 'wf#h1', 'pending', '[1]', '{"steps":[]}', ?, ?)`,
      )
      .run(T0, T0)
    old.prepare(`INSERT INTO flux_checkpoints (run_id, seq, at, body) VALUES ('old', 1, ?, 'b1')`).run(T0)
    old.close()

    const storage = new SqliteStorage({ path })
    await storage.init()
    const conn = new SqliteConnection(storage.getDatabase())
    const applied = appliedMigrations(conn, tables)
    expect(applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version))
    expect(applied[0]!.appliedAt).toBe(T0)
    const indexes = raw(storage)
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'flux\\_runs\\_%' ESCAPE '\\'`,
      )
      .all()
      .map((r) => (r as { name: string }).name)
    expect(indexes).toEqual(
      expect.arrayContaining(['flux_runs_pending_idx', 'flux_runs_timer_idx', 'flux_runs_created_idx']),
    )
    const snapshot = await storage.loadRun('old')
    expect(snapshot!.run).toMatchObject({ status: 'pending', queue: 'default', priority: 0, revision: 1 })
    expect(snapshot!.checkpoints).toEqual([{ seq: 1, at: T0, body: 'b1' }])
    // The upgraded file works: the old pending run is claimable.
    const claimed = await storage.claimDue({ lease: LEASE, now: T0 + 1, definitionKeys: ['wf#h1'], limit: 5 })
    expect(claimed.map((c) => c.run.id)).toEqual(['old'])
    await storage.close()

    const again = new SqliteStorage({ path })
    await again.init()
    expect(appliedMigrations(new SqliteConnection(again.getDatabase()), tables)).toEqual(applied)
    expect(migrate(new SqliteConnection(again.getDatabase()), tables)).toEqual([])
    await again.close()
  })

  it('refuses a file migrated by a newer fluxflow, and a table in the origin layout', async () => {
    const path = temp.file()
    const db = new Database(path)
    migrate(new SqliteConnection(db), resolveTables({}))
    db.prepare(`INSERT INTO flux_migrations (version, name, applied_at) VALUES (?, 'future', 0)`).run(
      SCHEMA_VERSION + 1,
    )
    db.exec(`CREATE TABLE flux_workflows (id TEXT PRIMARY KEY, name TEXT, status TEXT, input TEXT, data TEXT,
      current_step INTEGER, history TEXT, error TEXT, created_at TEXT, updated_at TEXT, completed_at TEXT)`)
    db.close()
    await expect(new SqliteStorage({ path }).init()).rejects.toThrow(/newer than this fluxflow/)
    await expect(new SqliteStorage({ path, tableName: 'flux_workflows' }).init()).rejects.toThrow(
      /already exists with another layout \(the one @gravito\/flux/,
    )
  })
})

describe('SqliteStorage: several processes on one file', () => {
  it('never lets two processes claim the same run', async () => {
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx')
    expect(existsSync(tsx)).toBe(true)
    const path = temp.file()
    const storage = await opened({ path })
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        storage.createRun({ run: sampleRun(`p${i}`, { status: 'pending', createdAt: T0 + i }) }),
      ),
    )
    const script = join(process.cwd(), 'test', 'helpers', 'sqlite-claim-child.ts')
    const children = ['a', 'b', 'c'].map((owner) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', script, path, owner], {
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let out = ''
      let err = ''
      let markReady: () => void = () => undefined
      const ready = new Promise<void>((resolve) => (markReady = resolve))
      proc.stdout.on('data', (chunk) => {
        out += chunk
        if (out.startsWith('ready\n')) markReady()
      })
      proc.stderr.on('data', (chunk) => (err += chunk))
      const done = new Promise<{ owner: string; claimed: string[] }>((resolve, reject) => {
        proc.on('error', reject)
        proc.on('close', (code) =>
          code === 0
            ? resolve(JSON.parse(out.slice('ready\n'.length).trim()))
            : reject(new Error(`child ${owner} exited with ${code}: ${err}`)),
        )
      })
      return { proc, ready: Promise.race([ready, done.then(() => undefined)]), done }
    })
    // Start them together, once all three have opened the file.
    await Promise.all(children.map((c) => c.ready))
    for (const c of children) c.proc.stdin.end('go\n')
    const outputs = await Promise.all(children.map((c) => c.done))
    const all = outputs.flatMap((o) => o.claimed)
    expect(new Set(all).size).toBe(all.length)
    expect(all.length).toBe(200)
    // Every run was completed once, by the process that claimed it.
    const { runs, total } = await storage.listRuns({ statuses: ['completed'] })
    expect(total).toBe(200)
    const byOwner = new Map(outputs.flatMap((o) => o.claimed.map((id) => [id, o.owner] as const)))
    for (const run of runs.slice(0, 20)) {
      const snap = await storage.loadRun(run.id)
      expect(snap!.checkpoints.map((c) => c.body)).toEqual([JSON.stringify({ by: byOwner.get(run.id) })])
    }
    await storage.close()
  }, 60_000)

  it('opens while another process holds the file locked, even on a handle that has no busy timeout', async () => {
    const path = temp.file()
    // better-sqlite3 waits 5 s by default; bun:sqlite does not wait at all. timeout: 0 is the latter.
    const db = new Database(path, { timeout: 0 })
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(process.argv[1]);
         db.exec('BEGIN EXCLUSIVE; CREATE TABLE held (x)');
         process.stdout.write('locked\\n');
         setTimeout(() => { db.exec('COMMIT'); db.close(); }, 400);`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const exited = new Promise<number | null>((resolve) => holder.on('close', resolve))
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (chunk) => String(chunk).includes('locked') && resolve())
      holder.on('close', (code) => reject(new Error(`lock holder exited early with ${code}`)))
    })
    expect(() => db.prepare('SELECT 1').get()).toThrow(/locked/)
    const storage = new SqliteStorage({ database: db as never, busyTimeout: 10_000 })
    await storage.init()
    await storage.createRun({ run: sampleRun('after-lock') })
    expect((await storage.loadRun('after-lock'))?.run.id).toBe('after-lock')
    expect(await exited).toBe(0)
    await storage.close()
    db.close()
  }, 30_000)
})

describe('SqliteStorage: corrupt rows', () => {
  it('names the run whose meta, checkpoint, input or column type is damaged; the others still load', async () => {
    const path = temp.file()
    const flow = createWorkflow('corrupt-test').step('a', (ctx) => {
      ctx.data.n = (ctx.input as { n: number }).n
    })
    const first = new FluxEngine({ storage: new SqliteStorage({ path }), logger: new FluxSilentLogger() })
    const ids: string[] = []
    for (let n = 0; n < 5; n++) ids.push((await first.execute(flow, { n }, { id: `run-${n}` })).id)
    await first.close()

    const db = new Database(path)
    db.prepare(`UPDATE flux_runs SET meta = '{not json' WHERE id = 'run-0'`).run()
    db.prepare(`UPDATE flux_checkpoints SET body = '[[[garbage' WHERE run_id = 'run-1'`).run()
    db.prepare(`UPDATE flux_runs SET input = 'no devalue here' WHERE id = 'run-2'`).run()
    db.prepare(`UPDATE flux_runs SET meta = x'00ff00ff' WHERE id = 'run-3'`).run()
    db.close()

    const engine = new FluxEngine({ storage: new SqliteStorage({ path }), logger: new FluxSilentLogger() })
    for (const id of ids.slice(0, 4)) await expect(engine.get(id)).rejects.toThrow(new RegExp(`\\b${id}\\b`))
    await expect(engine.get('run-3')).rejects.toBeInstanceOf(StorageError)
    const healthy = await engine.get('run-4')
    expect([healthy!.status, healthy!.data]).toEqual(['completed', { n: 4 }])
    await engine.close()
  })

  it('skips a due run whose row is damaged instead of failing every claim', async () => {
    const storage = await opened()
    await storage.createRun({ run: sampleRun('bad', { status: 'pending', priority: 9 }) })
    await storage.createRun({ run: sampleRun('good', { status: 'pending' }) })
    raw(storage).prepare(`UPDATE flux_runs SET cursor = 'three' WHERE id = 'bad'`).run()
    const claimed = await storage.claimDue({ lease: LEASE, now: T0 + 1, definitionKeys: ['wf#h1'], limit: 5 })
    expect(claimed.map((c) => c.run.id)).toEqual(['good'])
    expect(claimed[0]!.run).toEqual(await storage.getRun('good'))
    await expect(storage.getRun('bad')).rejects.toThrow(/Run bad has a corrupt row: column cursor/)
    expect(raw(storage).prepare(`SELECT lease_token FROM flux_runs WHERE id = 'bad'`).get()).toEqual({
      lease_token: null,
    })
    await storage.close()
  })
  it('claims only the kinds asked for; a waiting run whose signal is here is of kind signal', async () => {
    const storage = await opened()
    const now = T0 + 1000
    await storage.createRun({ run: sampleRun('queued', { status: 'pending' }) })
    await storage.createRun({ run: sampleRun('orphan'), lease: { ...LEASE, expiresAt: now - 1 } })
    await storage.createRun({ run: sampleRun('timer', { status: 'suspended', wakeAt: now }) })
    await storage.createRun({
      run: sampleRun('both', { status: 'suspended', waitingFor: 'go', wakeAt: now - 5 }),
    })
    await storage.deliverSignal({ id: 'both', name: 'go', payload: '[1]', now })
    const claim = async (kinds: ('pending' | 'orphaned' | 'timer' | 'signal')[]) =>
      (
        await storage.claimDue({
          lease: { owner: kinds.join('+'), token: `${kinds.join('+')}/1`, expiresAt: now + 60_000 },
          now,
          definitionKeys: ['wf#h1'],
          kinds,
          limit: 10,
        })
      )
        .map((c) => c.run.id)
        .sort()
    expect(await claim([])).toEqual([])
    expect(await claim(['timer'])).toEqual(['timer'])
    expect(await claim(['orphaned', 'signal'])).toEqual(['both', 'orphan'])
    expect(await claim(['pending', 'orphaned', 'timer', 'signal'])).toEqual(['queued'])
    await storage.close()
  })
})

describe('SqliteStorage: group commit', () => {
  it('rewrites no index for a checkpoint that changes no indexed column, and all of them that do', async () => {
    const path = temp.file()
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    const storage = new SqliteStorage({ database: db as never, walAutocheckpoint: 0 })
    await storage.init()
    const ids = Array.from({ length: 300 }, (_, i) => `r${i}`)
    for (const id of ids)
      await storage.createRun({ run: sampleRun(id, { createdAt: T0 + Number(id.slice(1)) }), lease: LEASE })
    const walFrames = () =>
      Math.round(statSync(`${path}-wal`).size / ((db.pragma('page_size', { simple: true }) as number) + 24))
    const framesPerWrite = async (patch: (id: string) => RunPatch, sample: string[]) => {
      db.pragma('wal_checkpoint(TRUNCATE)')
      const before = walFrames()
      for (const id of sample)
        await storage.checkpoint({ id, token: LEASE.token, now: T0 + 5, patch: patch(id) })
      return (walFrames() - before) / sample.length
    }
    // What the engine sends after a plain step: every row field, only the cursor changed.
    const same = { status: 'running', waitingFor: null, wakeAt: null, error: null } as const
    expect(await framesPerWrite(() => ({ ...same, cursor: 1 }), ids.slice(0, 100))).toBeLessThan(1.5)
    // A status change moves the run between partial indexes and the status listing.
    expect(
      await framesPerWrite(() => ({ ...same, status: 'suspended', wakeAt: T0 + 9 }), ids.slice(100, 200)),
    ).toBeGreaterThan(2)
    const run = (await storage.loadRun('r150'))!.run
    expect([run.status, run.wakeAt, run.cursor, run.leaseToken]).toEqual([
      'suspended',
      T0 + 9,
      0,
      LEASE.token,
    ])
    const kept = (await storage.loadRun('r50'))!.run
    expect([kept.status, kept.cursor, kept.revision]).toEqual(['running', 1, 2])
    await storage.close()
    db.close()
  })

  it('commits 100 concurrent checkpoints in one transaction, each resolving after its COMMIT', async () => {
    const storage = await opened()
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => storage.createRun({ run: sampleRun(`r${i}`), lease: LEASE })),
    )
    // A second connection sees only committed data.
    const observer = new Database(storage.path, { readonly: true })
    const visible = observer.prepare('SELECT COUNT(*) AS n FROM flux_checkpoints WHERE run_id = ?')
    const before = storage.groupCommitStats
    const seenAtResolve: number[] = []
    const writes = Array.from({ length: 100 }, (_, i) =>
      storage
        .checkpoint({ id: `r${i}`, token: 'w/1', now: T0 + 1, patch: { cursor: 1 }, body: `b${i}` })
        .then(() => seenAtResolve.push((visible.get(`r${i}`) as { n: number }).n)),
    )
    // Issued, not yet committed: nothing is visible outside.
    expect((observer.prepare('SELECT COUNT(*) AS n FROM flux_checkpoints').get() as { n: number }).n).toBe(0)
    await Promise.all(writes)
    const after = storage.groupCommitStats
    expect(after.commits - before.commits).toBe(1)
    expect(after.largestBatch).toBeGreaterThanOrEqual(100)
    expect(seenAtResolve).toEqual(Array(100).fill(1))
    observer.close()
    await storage.close()
  })

  it('rejects only the fenced-out write of a batch; the others commit', async () => {
    const storage = await opened()
    await storage.createRun({ run: sampleRun('mine'), lease: LEASE })
    await storage.createRun({ run: sampleRun('theirs'), lease: { ...LEASE, owner: 'x', token: 'x/1' } })
    const before = storage.groupCommitStats.commits
    const results = await Promise.allSettled([
      storage.checkpoint({ id: 'mine', token: 'w/1', now: T0 + 1, patch: { cursor: 1 }, body: 'one' }),
      storage.checkpoint({ id: 'theirs', token: 'w/1', now: T0 + 1, patch: { cursor: 9 }, body: 'stolen' }),
      storage.park({ id: 'theirs', token: 'w/1', now: T0 + 1, patch: {}, unlessSignal: 'go' }),
      storage.checkpoint({ id: 'mine', token: 'w/1', now: T0 + 2, patch: { cursor: 2 }, body: 'two' }),
      storage.renewLeases({ token: 'w/1', ids: ['theirs', 'mine'], now: T0 + 2, expiresAt: T0 + 90_000 }),
    ])
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
      'fulfilled',
    ])
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(LeaseLostError)
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(LeaseLostError)
    expect((results[4] as PromiseFulfilledResult<string[]>).value).toEqual(['mine'])
    expect(storage.groupCommitStats.commits - before).toBe(1)
    const mine = await storage.loadRun('mine')
    expect([mine!.run.cursor, mine!.run.leaseExpiresAt, mine!.checkpoints.map((c) => c.body)]).toEqual([
      2,
      T0 + 90_000,
      ['one', 'two'],
    ])
    expect((await storage.loadRun('theirs'))!.checkpoints).toEqual([])
    await storage.close()
  })

  it('commits a batch of sync: false writes without fsync, and puts synchronous back after it', async () => {
    const storage = await opened()
    await storage.createRun({ run: sampleRun('r1'), lease: LEASE })
    const db = raw(storage)
    const before = storage.groupCommitStats
    await Promise.all([
      storage.checkpoint({
        id: 'r1',
        token: 'w/1',
        now: T0 + 1,
        patch: { cursor: 1 },
        body: 'a',
        sync: false,
      }),
      storage.checkpoint({
        id: 'r1',
        token: 'w/1',
        now: T0 + 2,
        patch: { cursor: 2 },
        body: 'b',
        sync: false,
      }),
    ])
    const relaxed = storage.groupCommitStats
    expect([relaxed.commits - before.commits, relaxed.relaxedCommits - before.relaxedCommits]).toEqual([1, 1])
    expect(db.pragma('synchronous', { simple: true })).toBe(2)
    // One synced write in the batch makes the whole commit synced.
    await Promise.all([
      storage.checkpoint({
        id: 'r1',
        token: 'w/1',
        now: T0 + 3,
        patch: { cursor: 3 },
        body: 'c',
        sync: false,
      }),
      storage.checkpoint({ id: 'r1', token: 'w/1', now: T0 + 4, patch: { cursor: 4 }, body: 'd' }),
    ])
    expect(storage.groupCommitStats.relaxedCommits).toBe(relaxed.relaxedCommits)
    expect((await storage.loadRun('r1'))!.checkpoints.map((c) => c.body)).toEqual(['a', 'b', 'c', 'd'])
    await storage.close()
  })

  it('rejects the whole batch with a StorageError when the transaction cannot start', async () => {
    const storage = await opened({ busyTimeout: 50 })
    await storage.createRun({ run: sampleRun('r1'), lease: LEASE })
    const other = new Database(storage.path)
    other.exec('BEGIN IMMEDIATE')
    const results = await Promise.allSettled([
      storage.checkpoint({ id: 'r1', token: 'w/1', now: T0 + 1, patch: { cursor: 1 }, body: 'a' }),
      storage.release({ id: 'r1', token: 'w/1', now: T0 + 1 }),
    ])
    other.exec('ROLLBACK')
    other.close()
    for (const result of results) {
      expect(result.status).toBe('rejected')
      const reason = (result as PromiseRejectedResult).reason as StorageError
      expect(reason).toBeInstanceOf(StorageError)
      expect((reason.cause as { code?: string }).code).toBe('SQLITE_BUSY')
    }
    // Nothing was applied, and the store works again once the lock is gone.
    expect((await storage.getRun('r1'))!.cursor).toBe(0)
    await storage.checkpoint({ id: 'r1', token: 'w/1', now: T0 + 2, patch: { cursor: 2 } })
    expect((await storage.getRun('r1'))!.cursor).toBe(2)
    await storage.close()
  })
})

describe('SqliteStorage: options and lifecycle', () => {
  it('validates table names and maps tablePrefix and the origin tableName', async () => {
    expect(() => new SqliteStorage({ path: ':memory:', tablePrefix: 'x; drop' })).toThrow(TypeError)
    expect(() => new SqliteStorage({ path: ':memory:', tableName: 'runs; DROP TABLE x' })).toThrow(TypeError)
    expect(() => new SqliteStorage({ path: ':memory:', tablePrefix: 'a_', tableName: 'b' })).toThrow(
      /not both/,
    )
    const prefixed = new SqliteStorage({ path: ':memory:', tablePrefix: 'app_' })
    expect(prefixed.tables).toEqual({
      runs: 'app_runs',
      checkpoints: 'app_checkpoints',
      signals: 'app_signals',
      migrations: 'app_migrations',
    })
    const origin = new BunSQLiteStorage({ tableName: 'jobs' })
    expect(origin.path).toBe(':memory:')
    expect(origin.tables.runs).toBe('jobs')
    expect(origin.tables.checkpoints).toBe('jobs_checkpoints')
    // As in the origin, the store opens on first use.
    await origin.createRun({ run: sampleRun('j1') })
    const names = raw(origin)
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .all()
      .map((r) => (r as { name: string }).name)
    expect(names).toEqual(['jobs', 'jobs_checkpoints', 'jobs_migrations', 'jobs_signals'])
    expect((await origin.load('j1'))!.id).toBe('j1')
    await origin.close()
  })

  it('keeps U+0000 in ids, keys, bodies and prefixes as plain data', async () => {
    const storage = await opened()
    const id = 'a\u0000b'
    await storage.createRun({
      run: sampleRun(id, { status: 'pending', definitionKey: 'k\u0000', input: 'x\u0000' }),
    })
    await storage.createRun({ run: sampleRun('a', { status: 'pending', definitionKey: 'k' }) })
    expect((await storage.listRuns({ idPrefix: 'a\u0000' })).runs.map((r) => r.id)).toEqual([id])
    expect((await storage.listRuns({ idPrefix: 'a' })).total).toBe(2)
    const claimed = await storage.claimDue({ lease: LEASE, now: T0, definitionKeys: ['k\u0000'], limit: 5 })
    expect(claimed.map((c) => c.run.id)).toEqual([id])
    await storage.checkpoint({ id, token: 'w/1', now: T0 + 1, patch: {}, body: 'b\u0000c' })
    const snap = await storage.loadRun(id)
    expect([snap!.run.input, snap!.checkpoints[0]!.body]).toEqual(['x\u0000', 'b\u0000c'])
    await storage.close()
  })

  it('matches idPrefix exactly as startsWith does, across boundary code points', async () => {
    const storage = await opened({ path: ':memory:' })
    // Code points around the edges of UTF-8 and of the successor computation.
    const alphabet = [
      '\u0000',
      'a',
      'b',
      '%',
      '_',
      '\u007f',
      '\u0080',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '字',
      '🚀',
      '\u{10ffff}',
    ]
    const word = fc.array(fc.constantFrom(...alphabet), { maxLength: 4 }).map((cs) => cs.join(''))
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(word, { maxLength: 12 }), word, async (ids, prefix) => {
        await Promise.all(ids.map((id) => storage.createRun({ run: sampleRun(id) })))
        const { runs } = await storage.listRuns({ idPrefix: prefix })
        const expected = ids.filter((id) => id.startsWith(prefix)).sort()
        await Promise.all(ids.map((id) => storage.deleteRun(id)))
        expect(runs.map((r) => r.id).sort()).toEqual(expected)
      }),
      { numRuns: 200 },
    )
    await storage.close()
  })

  it('applies synchronous, WAL and the busy timeout', async () => {
    const levels = { OFF: 0, NORMAL: 1, FULL: 2, EXTRA: 3 } as const
    for (const [name, value] of Object.entries(levels)) {
      const storage = await opened({ synchronous: name as keyof typeof levels, busyTimeout: 1234 })
      expect(raw(storage).pragma('synchronous', { simple: true })).toBe(value)
      expect(raw(storage).pragma('journal_mode', { simple: true })).toBe('wal')
      expect(raw(storage).pragma('busy_timeout', { simple: true })).toBe(1234)
      await storage.close()
    }
    const defaults = await opened()
    expect(raw(defaults).pragma('synchronous', { simple: true })).toBe(levels.FULL)
    await defaults.close()
    expect(() => new SqliteStorage({ synchronous: 'FAST' as 'FULL' })).toThrow(TypeError)
  })

  it('counts init() and close(), waits for queued writes, and is idempotent', async () => {
    const path = temp.file()
    const storage = new SqliteStorage({ path })
    await storage.init()
    await storage.init()
    await storage.createRun({ run: sampleRun('r1'), lease: LEASE })
    await storage.close()
    expect(await storage.getRun('r1')).not.toBeNull()
    const pending = storage.checkpoint({ id: 'r1', token: 'w/1', now: T0 + 1, patch: { cursor: 7 } })
    await storage.close()
    await expect(pending).resolves.toBeUndefined()
    await storage.close()
    await expect(storage.getRun('r1')).rejects.toThrow(/closed/)
    await expect(storage.checkpoint({ id: 'r1', token: 'w/1', now: T0, patch: {} })).rejects.toThrow(/closed/)
    const reopened = await opened({ path })
    expect((await reopened.getRun('r1'))!.cursor).toBe(7)
    // The origin's vacuum() commits queued writes first.
    const queued = reopened.checkpoint({ id: 'r1', token: 'w/1', now: T0 + 2, patch: { cursor: 8 } })
    reopened.vacuum()
    expect(reopened.groupCommitStats.commits).toBe(1)
    await queued
    await reopened.close()
  })

  it('loads without better-sqlite3, which it asks for only at init(), with an install hint', async () => {
    const script = join(process.cwd(), 'test', 'helpers', 'sqlite-no-driver-child.ts')
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script])
    const result = JSON.parse(stdout.trim()) as { afterImport: number; afterInit: number; message: string }
    expect(result.afterImport).toBe(0)
    expect(result.afterInit).toBeGreaterThan(0)
    expect(result.message).toMatch(/^StorageError: .*npm install better-sqlite3@12/)
  }, 30_000)

  it('uses a database handle the application passes, and leaves it open', async () => {
    const db = new Database(':memory:')
    const storage = new SqliteStorage({ database: db as never })
    await storage.init()
    await storage.createRun({ run: sampleRun('r1') })
    expect(storage.getDatabase()).toBe(db)
    await storage.close()
    expect(db.open).toBe(true)
    expect((db.prepare('SELECT COUNT(*) AS n FROM flux_runs').get() as { n: number }).n).toBe(1)
    db.close()
  })
})
