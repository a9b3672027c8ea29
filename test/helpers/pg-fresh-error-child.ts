/**
 * Child of the "fresh connection dies at once" finding (test/postgres-findings.test.ts).
 * Usage: node --import tsx pg-fresh-error-child.ts <database url> <schema>
 *
 * Talks to Postgres through a small TCP proxy. Once armed, the proxy lets the next connection
 * complete its startup and then appends, in the same TCP segment as the server's ReadyForQuery,
 * the FATAL error a terminated backend sends (57P01), and closes. That is what a client sees when
 * its backend is terminated the instant it became ready (pg_terminate_backend, a failover, a
 * server restart). The process must survive it: the write that needed the connection fails with
 * a StorageError, and the next one works. Prints `SURVIVED` at the end.
 */
import { createServer, connect as tcpConnect } from 'node:net'
import { PostgresStorage } from '../../src/storage/postgres/postgres-storage.js'
import { sampleRun } from '../../src/testing/index.js'

const [url, schema] = process.argv.slice(2) as [string, string]
const target = new URL(url)
let armed = false

/** An ErrorResponse: FATAL 57P01, as the server sends it to a terminated backend's client. */
function fatal(): Buffer {
  const fields = Buffer.concat([
    ...[
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', '57P01'],
      ['M', 'terminating connection due to administrator command'],
    ].map(([code, text]) => Buffer.from(`${code}${text}\0`)),
    Buffer.from('\0'),
  ])
  const header = Buffer.alloc(5)
  header.write('E', 0)
  header.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([header, fields])
}

const proxy = createServer((client) => {
  const kill = armed
  armed = false
  const upstream = tcpConnect(Number(target.port || 5432), target.hostname)
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
  client.pipe(upstream)
  if (!kill) {
    upstream.pipe(client)
    return
  }
  // Server messages are a type byte and a length; forward them up to the first ReadyForQuery ('Z').
  let pending = Buffer.alloc(0)
  upstream.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    let offset = 0
    while (pending.length - offset >= 5) {
      const length = pending.readInt32BE(offset + 1)
      if (pending.length - offset < 1 + length) break
      const type = pending[offset]
      offset += 1 + length
      if (type === 0x5a) {
        client.end(Buffer.concat([pending.subarray(0, offset), fatal()]))
        upstream.destroy()
        return
      }
    }
    client.write(pending.subarray(0, offset))
    pending = pending.subarray(offset)
  })
})
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
const port = (proxy.address() as { port: number }).port
const proxied = new URL(url)
proxied.hostname = '127.0.0.1'
proxied.port = String(port)

const storage = new PostgresStorage({ connectionString: proxied.href, schema, max: 3, warn: () => undefined })
await storage.init()
const lease = { owner: 'w', token: 'w/1', expiresAt: Date.now() + 60_000 }
await storage.createRun({ run: sampleRun('r1'), lease })
// The LISTEN connection takes the pool's idle client, so the writer needs a new connection.
const unsubscribe = await storage.subscribe(() => undefined)
armed = true
const write = (now: number) =>
  storage.checkpoint({ id: 'r1', token: lease.token, now, patch: { cursor: now }, body: '{}' })
const first = await write(1).then(
  () => 'ok',
  (error: Error) => `rejected: ${error.message}`,
)
console.log(`first write ${first}`)
await write(2)
console.log('second write ok')
await unsubscribe()
await storage.close()
proxy.close()
console.log('SURVIVED')
