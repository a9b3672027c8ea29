/**
 * The storage conformance suite under Bun's test runner, against SqliteStorage on bun:sqlite.
 * Run with `bun test test/bun/` (vitest only picks up `*.test.ts`, so it never sees this file).
 */
import { afterAll, describe, expect, it } from 'bun:test'
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
})

runStoreConformance({ describe, it, expect }, 'SqliteStorage on bun:sqlite (file)', () => {
  return new SqliteStorage({ path: temp.file(`nested/${Math.random().toString(36).slice(2)}/flux.db`) })
})

runStoreConformance(
  { describe, it, expect },
  'SqliteStorage on bun:sqlite (:memory:)',
  () => new SqliteStorage({ path: ':memory:' }),
)
