/**
 * The storage conformance suite under Bun's test runner, against SqliteStorage on bun:sqlite.
 * Run with `bun test test/bun/` (vitest only picks up `*.test.ts`, so it never sees this file).
 */

import { afterAll, describe, expect, it } from 'bun:test'
import { spawn } from 'node:child_process'
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js'
import { runStoreConformance } from '../../src/testing/index.js'
import { tempDir } from '../helpers/sqlite-temp.js'

const temp = tempDir('fluxflow-bun-sqlite')
afterAll(() => temp.remove())

describe('runtime', () => {
  it('runs on Bun, so the store uses bun:sqlite', async () => {
    expect(typeof process.versions.bun).toBe('string')
    const store = new SqliteStorage({ path: ':memory:' })
    await store.init()
    try {
      // bun:sqlite's Database has query(); better-sqlite3's does not.
      expect(typeof (store.getDatabase() as unknown as { query?: unknown }).query).toBe('function')
    } finally {
      await store.close()
    }
  })

  it('opens a file another process holds locked: bun:sqlite has no busy timeout until the store sets one', async () => {
    const path = temp.file(`locked-${Math.random().toString(36).slice(2)}.db`)
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const { Database } = require('bun:sqlite');
         const db = new Database(process.argv.at(-1));
         db.exec('BEGIN EXCLUSIVE; CREATE TABLE held (x)');
         process.stdout.write('locked\\n');
         setTimeout(() => { db.exec('COMMIT'); db.close(); }, 400);`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const exited = new Promise<number | null>((resolve) => holder.on('close', resolve))
    await new Promise<void>((resolve, reject) => {
      holder.stdout?.on('data', (chunk) => String(chunk).includes('locked') && resolve())
      holder.on('close', (code) => reject(new Error(`lock holder exited early with ${code}`)))
    })
    const store = new SqliteStorage({ path, busyTimeout: 10_000 })
    await store.init()
    try {
      expect(await store.listRuns({})).toEqual({ runs: [], total: 0 })
      expect(await exited).toBe(0)
    } finally {
      await store.close()
    }
  }, 30_000)
})

runStoreConformance({ describe, it, expect }, 'SqliteStorage on bun:sqlite (file)', () => {
  return new SqliteStorage({ path: temp.file(`nested/${Math.random().toString(36).slice(2)}/flux.db`) })
})

runStoreConformance(
  { describe, it, expect },
  'SqliteStorage on bun:sqlite (:memory:)',
  () => new SqliteStorage({ path: ':memory:' }),
)
