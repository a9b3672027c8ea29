/**
 * Crash semantics on SQLite, with real processes killed by SIGKILL at named points.
 * Each test checks, with an append-only side-effect log, that nothing recorded ran again and
 * every run ends in its correct final state. The tests themselves are shared with Postgres
 * (test/helpers/crash-suite.ts).
 */
import { join } from 'node:path'
import { afterAll, describe } from 'vitest'
import { SqliteStorage } from '../src/sqlite.js'
import { SQLITE_CHILD } from './helpers/crash.js'
import { crashSuite } from './helpers/crash-suite.js'

const stores: SqliteStorage[] = []
afterAll(async () => {
  for (const s of stores) await s.close()
})

crashSuite({
  name: 'SQLite',
  describe,
  script: SQLITE_CHILD,
  async fresh(dir) {
    const db = join(dir, 'flux.db')
    return {
      at: { db },
      async open() {
        const store = new SqliteStorage({ path: db })
        await store.init()
        stores.push(store)
        return store
      },
    }
  },
})
