/**
 * Child for the optional-peer test: hides `better-sqlite3` from module resolution (a resolve
 * hook that fails as npm's absence would), records whether anything tried to load it, then
 * imports the SQLite entry, constructs a store, and calls `init()`. Prints one JSON line.
 */
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'

const { port1, port2 } = new MessageChannel()
const attempts: string[] = []
port1.on('message', (specifier: string) => attempts.push(specifier))
port1.unref()
const hook = `
let port
export function initialize(data) { port = data.port }
export async function resolve(specifier, context, next) {
  if (specifier === 'better-sqlite3') {
    port.postMessage(specifier)
    const error = new Error("Cannot find package 'better-sqlite3'")
    error.code = 'ERR_MODULE_NOT_FOUND'
    throw error
  }
  return next(specifier, context)
}`
register(`data:text/javascript,${encodeURIComponent(hook)}`, {
  data: { port: port2 },
  transferList: [port2],
})

const { SqliteStorage } = await import('../../src/sqlite.js')
const storage = new SqliteStorage({ path: ':memory:' })
const afterImport = attempts.length
let message = ''
try {
  await storage.init()
} catch (error) {
  message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
// Let the hook thread's message arrive.
await new Promise((resolve) => setTimeout(resolve, 50))
process.stdout.write(`${JSON.stringify({ afterImport, afterInit: attempts.length, message })}\n`)
