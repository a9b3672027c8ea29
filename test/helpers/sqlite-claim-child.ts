/**
 * A child process for the multi-process test: opens the shared SQLite file, says `ready` on
 * stdout, waits for a line on stdin (the parent's start signal, sent once every child is
 * ready, so they really run at the same time), then claims due runs in small batches until none are left, completing
 * each claimed run with a fenced (group-committed) checkpoint. Prints the ids it claimed as one
 * JSON line. Usage: node --import tsx sqlite-claim-child.ts <path> <owner>
 */
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js'

const [path, owner] = process.argv.slice(2)
if (!path || !owner) throw new Error('usage: sqlite-claim-child.ts <path> <owner>')

const storage = new SqliteStorage({ path, busyTimeout: 20_000 })
await storage.init()
process.stdout.write('ready\n')
await new Promise((resolve) => process.stdin.once('data', resolve))
process.stdin.pause()

const token = `${owner}/1`
const claimed: string[] = []
for (;;) {
  const now = Date.now()
  const batch = await storage.claimDue({
    lease: { owner, token, expiresAt: now + 600_000 },
    now,
    definitionKeys: ['wf#h1'],
    limit: 3,
  })
  if (batch.length === 0) break
  await Promise.all(
    batch.map((snapshot) => {
      claimed.push(snapshot.run.id)
      return storage.checkpoint({
        id: snapshot.run.id,
        token,
        now,
        patch: { status: 'completed', completedAt: now },
        body: JSON.stringify({ by: owner }),
        release: true,
      })
    }),
  )
}
await storage.close()
process.stdout.write(`${JSON.stringify({ owner, claimed })}\n`)
