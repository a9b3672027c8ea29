/**
 * `--db`: which store a value names, and the clear errors (never a created database) for a
 * missing file, a file that is not fluxflow's, a wrong URL and an unreachable server.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { CliError } from '../src/cli/exit-codes.js'
import { hidePassword, openStore, parseDbTarget } from '../src/cli/open-store.js'
import { runCli } from '../src/cli/run-cli.js'
import { PostgresStorage } from '../src/storage/postgres/postgres-storage.js'
import {
  adminPool,
  DATABASE_URL,
  describePg,
  dropSchema,
  endAdminPool,
  uniqueSchema,
} from './helpers/pg-schema.js'
import { tempDir } from './helpers/sqlite-temp.js'

const dir = tempDir('fluxflow-open-store')
afterAll(async () => {
  dir.remove()
  await endAdminPool()
})

async function failure(db: string, options = {}): Promise<CliError> {
  const error = await openStore(db, options).then(
    async (opened) => {
      await opened.close()
      throw new Error(`opened ${db}`)
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(CliError)
  return error as CliError
}

describe('parseDbTarget', () => {
  it('reads SQLite paths and file: URLs', () => {
    expect(parseDbTarget('./data/flux.db')).toEqual({
      kind: 'sqlite',
      path: join(process.cwd(), 'data/flux.db'),
    })
    expect(parseDbTarget(pathToFileURL('/tmp/x.db').href)).toEqual({ kind: 'sqlite', path: '/tmp/x.db' })
  })

  it('reads Postgres URLs with the schema from ?schema= or --schema', () => {
    expect(parseDbTarget('postgres://u:pw@db.local:5432/app?schema=orders&sslmode=disable')).toEqual({
      kind: 'postgres',
      connectionString: 'postgres://u:pw@db.local:5432/app?sslmode=disable',
      schema: 'orders',
      display: 'postgres://u:***@db.local:5432/app?sslmode=disable (schema orders)',
    })
    expect(parseDbTarget('postgresql://db/app', { schema: 'flux' })).toMatchObject({ schema: 'flux' })
    expect(parseDbTarget('postgres://db/app')).toMatchObject({ schema: 'fluxflow' })
  })

  it('rejects what it cannot read, as usage errors (exit 2)', () => {
    const usage = (fn: () => unknown) => {
      try {
        fn()
      } catch (error) {
        expect(error).toBeInstanceOf(CliError)
        expect((error as CliError).exitCode).toBe(2)
        return (error as Error).message
      }
      throw new Error('no error')
    }
    expect(usage(() => parseDbTarget('mysql://db/app'))).toContain('Unsupported database URL "mysql://…"')
    expect(usage(() => parseDbTarget('postgres://u:pw@[bad/app'))).toContain('Cannot read the database URL')
    expect(usage(() => parseDbTarget('postgres://u:pw@[bad/app'))).not.toContain('pw')
    expect(usage(() => parseDbTarget('postgres:///app'))).toContain('names no host')
    expect(usage(() => parseDbTarget('postgres://db/app?schema=a', { schema: 'b' }))).toContain('Two schemas')
    expect(usage(() => parseDbTarget('postgres://db/app?schema=drop;table'))).toContain('Invalid schema name')
    expect(usage(() => parseDbTarget('  '))).toContain('--db is empty')
  })

  it('hides passwords', () => {
    expect(hidePassword('postgres://me:s3cret@h/db')).toBe('postgres://me:***@h/db')
    expect(hidePassword('postgres://me:s3cret@[oops/db')).toBe('postgres://me:***@[oops/db')
  })
})

describe('openStore on SQLite never creates or alters a database', () => {
  it('refuses a missing file, and does not create it (nor its folder)', async () => {
    const path = join(dir.dir, 'nested', 'missing.db')
    const error = await failure(path)
    expect(error.exitCode).toBe(4)
    expect(error.message).toBe(
      `No database at ${path}: the file does not exist (flux opens an existing database and never creates one)`,
    )
    expect(existsSync(join(dir.dir, 'nested'))).toBe(false)
    const cli = await runCli(['runs', 'list', '--db', path], { stdout: () => {}, stderr: () => {}, env: {} })
    expect(cli).toBe(4)
    expect(existsSync(path)).toBe(false)
  })

  it('refuses a folder, an empty file, a text file and a SQLite file without fluxflow tables', async () => {
    const folder = join(dir.dir, 'folder.db')
    mkdirSync(folder)
    expect((await failure(folder)).message).toContain('is not a file')
    const empty = dir.file('empty.db')
    writeFileSync(empty, '')
    expect((await failure(empty)).message).toContain('is empty, not a fluxflow database')
    const text = dir.file('notes.db')
    writeFileSync(text, 'hello, this is not SQLite at all')
    expect((await failure(text)).message).toContain('is not a SQLite database')
    const foreign = dir.file('other-app.db')
    const db = new Database(foreign)
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)')
    db.close()
    const before = readFileSync(foreign)
    const error = await failure(foreign)
    expect(error.exitCode).toBe(4)
    expect(error.message).toContain("without fluxflow's tables")
    expect(readFileSync(foreign).equals(before)).toBe(true)
    const check = new Database(foreign, { readonly: true })
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([
      { name: 'users' },
    ])
    check.close()
  })
})

describe('openStore on Postgres', () => {
  it('reports an unreachable server (exit 4) without the password', async () => {
    const error = await failure('postgres://me:s3cret@127.0.0.1:1/test')
    expect(error.exitCode).toBe(4)
    expect(error.message).toMatch(
      /^Cannot reach Postgres at postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/test: .*ECONNREFUSED/,
    )
    expect(error.message).not.toContain('s3cret')
  })

  describePg('on the real server', () => {
    it('refuses a schema that does not exist, and does not create it', async () => {
      const schema = uniqueSchema('viewer')
      const error = await failure(`${DATABASE_URL}?schema=${schema}`)
      expect(error.exitCode).toBe(4)
      expect(error.message).toContain(`has no schema "${schema}"`)
      const { rows } = await adminPool().query(
        'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
        [schema],
      )
      expect(rows).toHaveLength(0)
    })

    it('opens an existing schema given as ?schema= or --schema', async () => {
      const schema = uniqueSchema('viewer')
      const store = new PostgresStorage({ connectionString: DATABASE_URL, schema })
      await store.init()
      await store.close()
      try {
        const opened = await openStore(`${DATABASE_URL}?schema=${schema}`)
        expect(opened.label).toContain(`(schema ${schema})`)
        expect((await opened.store.listRuns({})).total).toBe(0)
        await opened.close()
        const out: string[] = []
        const code = await runCli(['runs', 'list', '--db', DATABASE_URL, '--schema', schema], {
          stdout: (t) => out.push(t),
          stderr: (t) => out.push(t),
          env: {},
        })
        expect(code).toBe(0)
        expect(out.join('\n')).toBe('No runs.')
      } finally {
        await dropSchema(schema)
      }
    })
  })
})
