/**
 * The SQLite floor on this machine: what better-sqlite3 itself costs for the writes a durable
 * workflow cannot avoid, with the same durability SqliteStorage defaults to (WAL,
 * `synchronous = FULL`, so every COMMIT waits for the disk).
 *
 * One step = one autocommit INSERT = one fsync. Workflows run one after another, so the floor
 * is bounded by fsync latency; SqliteStorage beats it under concurrency only by sharing one
 * COMMIT among many writes (group commit), never by committing less.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { type Contender, JIT_WARM_RUNS, type Measurement, measure } from './harness.js'

/** Options of the floor functions. */
export interface SqliteFloorOptions {
  /** Workflows to run. */
  workflows?: number
  /** Folder for the database file; a fresh temp folder (removed afterwards) by default. */
  dir?: string
}

/** A floor kept open, to be timed by `measure` or `measureInterleaved` and closed afterwards. */
export interface Floor extends Contender {
  close(): void
}

/** Three steps, each one autocommit INSERT of a small row. */
export function openSqliteFloor(options: SqliteFloorOptions = {}): Floor {
  const workflows = options.workflows ?? 1000
  const body = JSON.stringify({ cursor: 1, data: { a: 1 } })
  const { insert, close } = openDatabase(options.dir)
  return {
    name: `better-sqlite3 floor: 3 × small INSERT (${workflows.toLocaleString('en-US')})`,
    one: async (n) => {
      for (let step = 0; step < 3; step++) insert.run(`wf-${n}`, step, body)
    },
    close,
  }
}

/**
 * Five steps, each one autocommit INSERT of a ~100 KB JSON document (what a step that keeps a
 * large `ctx.data` value writes). With `serialize`, each step stringifies the document object
 * first, as anything storing a step's output must; without it, it inserts a string it was handed.
 */
export function openSqliteLargeDocFloor(options: SqliteFloorOptions & { serialize?: boolean } = {}): Floor {
  const workflows = options.workflows ?? 100
  const doc = largeDocument()
  const object = JSON.parse(doc) as unknown
  const label = options.serialize ? '(JSON.stringify + INSERT)' : 'INSERT of a ready string'
  const { insert, close } = openDatabase(options.dir)
  return {
    name: `better-sqlite3 floor: 5 × 100 KB ${label} (${workflows.toLocaleString('en-US')})`,
    one: async (n) => {
      for (let step = 0; step < 5; step++)
        insert.run(`wf-${n}`, step, options.serialize ? JSON.stringify(object) : doc)
    },
    close,
  }
}

/** N three-step workflows of {@link openSqliteFloor}, one after another. */
export async function sqliteFloor(options: SqliteFloorOptions = {}): Promise<Measurement> {
  const floor = openSqliteFloor(options)
  try {
    return await measure(floor.name, options.workflows ?? 1000, 1, floor.one)
  } finally {
    floor.close()
  }
}

/** A JSON document of about 100 KB, built once. */
export function largeDocument(bytes = 100_000): string {
  const items: { id: number; name: string; tags: string[]; value: number; note: string }[] = []
  let doc = ''
  for (let id = 0; doc.length < bytes; id++) {
    items.push({ id, name: `item-${id}`, tags: ['alpha', 'beta'], value: id * 1.5, note: 'x'.repeat(48) })
    if (id % 50 === 49) doc = JSON.stringify({ items })
  }
  return doc
}

type Insert = Database.Statement<[string, number, string]>

function openDatabase(dir: string | undefined): { insert: Insert; close(): void } {
  const folder = dir ?? mkdtempSync(join(tmpdir(), 'fluxflow-floor-'))
  const db = new Database(join(folder, `floor-${process.pid}-${Date.now()}-${Math.random()}.db`))
  const close = () => {
    db.close()
    if (dir === undefined) rmSync(folder, { recursive: true, force: true })
  }
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec(
      'CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, step INTEGER NOT NULL, body TEXT NOT NULL)',
    )
    const insert: Insert = db.prepare('INSERT INTO steps (run_id, step, body) VALUES (?, ?, ?)')
    // Warm the file and the statement so the first measured fsync is not also the first write,
    // and the loop to a steady state as our side is (see JIT_WARM_RUNS).
    for (let i = 0; i < JIT_WARM_RUNS; i++) insert.run('warm-up', i, '{}')
    return { insert, close }
  } catch (error) {
    close()
    throw error
  }
}
