// A worker process for the crash tests on SQLite. Usage: node child.mjs <json options>
//   { db, …the options of engine-child.mjs }
import { SqliteStorage } from '../../dist/sqlite.js'
import { runChild } from './engine-child.mjs'

const o = JSON.parse(process.argv[2])
await runChild(o, new SqliteStorage({ path: o.db }))
