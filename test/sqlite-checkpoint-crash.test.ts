/**
 * kill -9 while SqliteStorage writes large payloads and checkpoints its WAL by run data: every
 * run the process acknowledged is in the file, completed, with its data, and the file is sound.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { createWorkflow, FluxEngine, FluxSilentLogger } from '../src/index.js'
import { SqliteStorage } from '../src/storage/sqlite/sqlite-storage.js'
import { tempDir } from './helpers/sqlite-temp.js'

const temp = tempDir()
afterAll(() => temp.remove())

const doc = createWorkflow('doc')
  .input<{ n: number }>()
  .step('store', (ctx) => void (ctx.data.doc = `${ctx.input.n}:${'x'.repeat(100_000)}`))

/** Runs the child until it has taken `checkpoints` data checkpoints, then SIGKILLs it after `delay` ms. */
async function runAndKill(path: string, checkpoints: number, delay: number): Promise<Map<string, number>> {
  const script = join(process.cwd(), 'test', 'helpers', 'sqlite-payload-child.ts')
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const acknowledged = new Map<string, number>()
  let buffer = ''
  let err = ''
  child.stderr.on('data', (chunk) => (err += chunk))
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  )
  child.stdout.on('data', (chunk) => {
    buffer += chunk
    const lines = buffer.split('\n')
    buffer = lines.pop()!
    for (const line of lines) {
      const [kind, a, b] = line.split(' ')
      if (kind === 'done') acknowledged.set(a!, Number(b))
      if (kind === 'checkpoints' && Number(a) >= checkpoints) setTimeout(() => child.kill('SIGKILL'), delay)
    }
  })
  const signal = await exited
  if (signal !== 'SIGKILL') throw new Error(`child ended without being killed (${signal}): ${err}`)
  return acknowledged
}

describe('SqliteStorage: kill -9 around the WAL checkpoints of large payloads', () => {
  it('keeps every acknowledged run, completed and readable, and leaves a sound file', async () => {
    const path = temp.file()
    let total = 0
    // Three processes in turn on one file, each killed a little after a checkpoint, at a
    // different point of the next one (a checkpoint of ~4 MB takes a few ms to tens of ms).
    for (const [round, delay] of [0, 7, 23].entries()) {
      const acknowledged = await runAndKill(path, 2, delay)
      expect(acknowledged.size).toBeGreaterThan(60)
      total += acknowledged.size
      const db = new Database(path)
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
      db.close()
      const storage = new SqliteStorage({ path })
      const engine = new FluxEngine({ storage, logger: new FluxSilentLogger(), workflows: [doc] })
      await engine.init()
      for (const [id, n] of acknowledged) {
        const run = await engine.get(id)
        expect(run?.status, `round ${round}, run ${id}`).toBe('completed')
        expect(run?.data.doc).toBe(`${n}:${'x'.repeat(100_000)}`)
      }
      await engine.close()
    }
    expect(total).toBeGreaterThan(180)
  }, 120_000)
})
