/**
 * A child process for the concurrent-migration test: waits for the common start time, then
 * initialises a PostgresStorage on the given schema and prints the migration versions this
 * process applied, as JSON. Usage: node --import tsx pg-migrate-child.ts <url> <schema> <startAt>
 */
import { PostgresStorage } from '../../src/storage/postgres/postgres-storage.js'

const [url, schema, startAt] = process.argv.slice(2)
if (!url || !schema || !startAt) throw new Error('usage: pg-migrate-child.ts <url> <schema> <startAt>')

const storage = new PostgresStorage({ connectionString: url, schema, max: 2 })
const wait = Number(startAt) - Date.now()
if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
await storage.init()
process.stdout.write(`${JSON.stringify(storage.appliedMigrations)}\n`)
await storage.close()
