import { afterAll, describe, expect, it } from 'vitest'
import { SqliteStorage } from '../src/storage/sqlite/sqlite-storage.js'
import { runStoreConformance } from '../src/testing/index.js'
import { tempDir } from './helpers/sqlite-temp.js'

const temp = tempDir()
afterAll(() => temp.remove())

// A fresh file per test: the subfolder does not exist yet, which also checks it is created.
runStoreConformance({ describe, it, expect }, 'SqliteStorage (file)', () => {
  return new SqliteStorage({ path: temp.file(`nested/${Math.random().toString(36).slice(2)}/flux.db`) })
})

runStoreConformance(
  { describe, it, expect },
  'SqliteStorage (:memory:)',
  () => new SqliteStorage({ path: ':memory:' }),
)
