/** Unique temporary database paths for SQLite tests, removed with their WAL files afterwards. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh folder under the OS temp dir; `file(name)` is a path inside it; `remove()` deletes it all. */
export function tempDir(label = 'fluxflow-sqlite'): {
  dir: string
  file: (name?: string) => string
  remove: () => void
} {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`))
  let n = 0
  return {
    dir,
    file: (name) => join(dir, name ?? `db-${++n}.sqlite`),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
