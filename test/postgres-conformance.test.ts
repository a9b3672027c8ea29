import { afterAll, expect, it } from 'vitest'
import type { FluxStore } from '../src/storage/contract.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { runStoreConformance } from '../src/testing/index.js'
import { DATABASE_URL, describePg, dropSchema, endAdminPool, uniqueSchema } from './helpers/pg-schema.js'

// Every test gets a fresh schema, migrated by init() and dropped by cleanup.
runStoreConformance(
  { describe: describePg, it, expect },
  'PostgresStorage',
  () => new PostgresStorage({ connectionString: DATABASE_URL, schema: uniqueSchema(), max: 4 }),
  {
    cleanup: async (store: FluxStore) => {
      await store.close()
      await dropSchema((store as PostgresStorage).schema)
    },
  },
)

afterAll(endAdminPool)
