/**
 * The same browser tests as viewer-browser.test.ts, against `flux dev --db postgres://…?schema=…`
 * on the real server, a fresh schema for this file. Skipped (loudly) only outside CI when the
 * server or Chromium is missing.
 */
import { afterAll } from 'vitest'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import { DATABASE_URL, describePg, dropSchema, endAdminPool, uniqueSchema } from './helpers/pg-schema.js'
import { viewerBrowserSuite } from './helpers/viewer-suite.js'

describePg('viewer on Postgres', () => {
  const schema = uniqueSchema('viewer')
  afterAll(async () => {
    await dropSchema(schema)
    await endAdminPool()
  })
  viewerBrowserSuite(
    'viewer in Chromium on Postgres',
    async () => ({
      makeStorage: () => new PostgresStorage({ connectionString: DATABASE_URL, schema, warn: () => {} }),
      dbArgs: ['--db', `${DATABASE_URL}?schema=${schema}`],
      cleanup: async () => {},
    }),
    'pg-',
  )
})
