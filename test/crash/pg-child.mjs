// A worker process for the crash tests on Postgres. Usage: node pg-child.mjs <json options>
//   { url, schema, appName?, max?, …the options of engine-child.mjs }
// `appName` becomes the connections' application_name, so the parent can find this process's
// backends in pg_stat_activity (and terminate them).
import { PostgresStorage } from '../../dist/postgres.js'
import { runChild } from './engine-child.mjs'

const o = JSON.parse(process.argv[2])
const url = new URL(o.url)
if (o.appName) url.searchParams.set('application_name', o.appName)
await runChild(
  o,
  new PostgresStorage({
    connectionString: url.href,
    schema: o.schema,
    // Small pools: several of these processes share one server with the rest of the suite.
    max: o.max ?? 4,
    warn: o.verbose ? (message) => process.stdout.write(`LOG warn ${message}\n`) : () => undefined,
  }),
)
