/**
 * Opens the store named by `--db`: a SQLite file path, or a `postgres://` URL.
 *
 * Adapters and drivers are loaded with a dynamic `import()`, so `flux runs list --db ./x.db`
 * never loads `pg` and a Postgres URL never loads `better-sqlite3`.
 *
 * The CLI never creates a database: it is a tool to look at (and nudge) one that an
 * application made. A missing SQLite file, a file that is not SQLite, a SQLite database
 * without fluxflow's tables, or a Postgres schema that does not exist is reported as such
 * (exit 4) — opening it as a store would have created it, which turns a typo into an empty
 * database that silently shows no runs.
 */
import { open, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertIdentifier, type FluxStore } from '../storage/contract.js'
import { CliError, EXIT, messageOf, usage } from './exit-codes.js'

/** Where `--db` points. */
export type DbTarget =
  | { kind: 'sqlite'; path: string }
  | {
      kind: 'postgres'
      /** The URL given, without our own `schema` parameter. */
      connectionString: string
      schema: string
      /** The URL with its password hidden, for messages. */
      display: string
    }

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Postgres schema (also accepted as `?schema=` in the URL). Default `fluxflow`. */
  schema?: string | undefined
  /** Give up connecting to Postgres after this long. Default 5 000 ms. */
  connectTimeoutMs?: number
}

/** A store the CLI opened, and how to close it. */
export interface OpenedStore {
  store: FluxStore
  target: DbTarget
  /** What to show the user (file path, or URL without password and with the schema). */
  label: string
  close(): Promise<void>
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i
const SQLITE_MAGIC = 'SQLite format 3\u0000'

/** Reads `--db` (and `--schema`) without touching anything. Throws a usage error (exit 2) for a wrong URL. */
export function parseDbTarget(db: string, options: Pick<OpenStoreOptions, 'schema'> = {}): DbTarget {
  const text = db.trim()
  if (text === '') throw usage('--db is empty: give a SQLite file path or a postgres:// URL')
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase()
  if (scheme === 'file') return { kind: 'sqlite', path: fileURLToPath(text) }
  if (scheme === undefined) return { kind: 'sqlite', path: resolve(text) }
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw usage(
      `Unsupported database URL "${scheme}://…": --db takes a SQLite file path or a postgres://user@host:5432/database URL`,
    )
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw usage(
      `Cannot read the database URL "${hidePassword(text)}": expected postgres://user@host:5432/database`,
    )
  }
  if (url.hostname === '' && !url.searchParams.has('host'))
    throw usage(
      `The database URL "${hidePassword(text)}" names no host: expected postgres://user@host:5432/database`,
    )
  const fromUrl = url.searchParams.get('schema')
  if (fromUrl !== null && options.schema !== undefined && fromUrl !== options.schema)
    throw usage(`Two schemas given: "${fromUrl}" in the URL and "${options.schema}" with --schema`)
  const schema = options.schema ?? fromUrl ?? 'fluxflow'
  try {
    assertIdentifier(schema, 'schema name')
  } catch (error) {
    throw usage(messageOf(error))
  }
  url.searchParams.delete('schema')
  const connectionString = url.toString()
  return {
    kind: 'postgres',
    connectionString,
    schema,
    display: `${hidePassword(connectionString)} (schema ${schema})`,
  }
}

/** A URL with its password replaced by `***`. */
export function hidePassword(text: string): string {
  try {
    const url = new URL(text)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return text.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@')
  }
}

/** Opens the store `--db` names; errors are `CliError`s with exit 2 (wrong URL) or 4 (cannot open). */
export async function openStore(db: string, options: OpenStoreOptions = {}): Promise<OpenedStore> {
  const target = parseDbTarget(db, options)
  return target.kind === 'sqlite'
    ? openSqlite(target)
    : openPostgres(target, options.connectTimeoutMs ?? 5_000)
}

async function openSqlite(target: Extract<DbTarget, { kind: 'sqlite' }>): Promise<OpenedStore> {
  await checkSqliteFile(target.path)
  const { SqliteStorage } = await import('../sqlite.js')
  const store = new SqliteStorage({ path: target.path })
  try {
    await store.init()
  } catch (error) {
    throw new CliError(`Cannot open SQLite database ${target.path}: ${messageOf(error)}`, EXIT.unreachable, {
      cause: error,
    })
  }
  return { store, target, label: target.path, close: () => store.close() }
}

/** The file exists, is SQLite, and (read-only, on Node) holds fluxflow's runs table. */
async function checkSqliteFile(path: string): Promise<void> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT')
      throw new CliError(
        `No database at ${path}: the file does not exist (flux opens an existing database and never creates one)`,
        EXIT.unreachable,
      )
    throw new CliError(`Cannot read ${path}: ${error.message}`, EXIT.unreachable)
  })
  if (!info.isFile()) throw new CliError(`${path} is not a file`, EXIT.unreachable)
  const handle = await open(path, 'r')
  let header: string
  try {
    const buffer = Buffer.alloc(16)
    const { bytesRead } = await handle.read(buffer, 0, 16, 0)
    header = buffer.subarray(0, bytesRead).toString('latin1')
  } finally {
    await handle.close()
  }
  if (header !== SQLITE_MAGIC)
    throw new CliError(
      info.size === 0 ? `${path} is empty, not a fluxflow database` : `${path} is not a SQLite database`,
      EXIT.unreachable,
    )
  if (!(await hasRunsTable(path)))
    throw new CliError(`${path} is a SQLite database without fluxflow's tables (flux_runs)`, EXIT.unreachable)
}

/**
 * Looks for the runs table through a read-only handle, so a foreign database is never migrated.
 * Only on Node with better-sqlite3; elsewhere the check is skipped (true).
 */
async function hasRunsTable(path: string): Promise<boolean> {
  if (typeof process.versions.bun === 'string') return true
  type Db = {
    prepare(sql: string): { get(...args: unknown[]): unknown }
    close(): void
  }
  let Database: new (path: string, options: Record<string, unknown>) => Db
  try {
    const specifier = 'better-sqlite3'
    const mod = (await import(specifier)) as { default?: typeof Database }
    Database = mod.default ?? (mod as unknown as typeof Database)
  } catch (error) {
    throw new CliError(
      'Reading a SQLite database needs the better-sqlite3 driver: npm install better-sqlite3@12',
      EXIT.unreachable,
      { cause: error },
    )
  }
  let db: Db | undefined
  try {
    db = new Database(path, { readonly: true, fileMustExist: true })
    return (
      db.prepare("SELECT 1 AS ok FROM sqlite_master WHERE type = 'table' AND name = 'flux_runs'").get() !==
      undefined
    )
  } catch (error) {
    throw new CliError(`Cannot open SQLite database ${path}: ${messageOf(error)}`, EXIT.unreachable, {
      cause: error,
    })
  } finally {
    db?.close()
  }
}

interface PgPool {
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>
  connect(): Promise<any>
  end(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): unknown
}

async function openPostgres(
  target: Extract<DbTarget, { kind: 'postgres' }>,
  connectTimeoutMs: number,
): Promise<OpenedStore> {
  let Pool: new (config: Record<string, unknown>) => PgPool
  try {
    const specifier = 'pg'
    const mod = (await import(specifier)) as { default?: { Pool: typeof Pool }; Pool?: typeof Pool }
    Pool = (mod.default?.Pool ?? mod.Pool)!
  } catch (error) {
    throw new CliError(
      'Reading a Postgres database needs the "pg" package: npm install pg',
      EXIT.unreachable,
      {
        cause: error,
      },
    )
  }
  // Our own pool, for the connect timeout: pg waits forever by default, and an unreachable
  // host must fail in seconds with a clear message rather than hang the terminal.
  const pool = new Pool({
    connectionString: target.connectionString,
    max: 4,
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'flux-cli',
  })
  pool.on('error', () => undefined)
  try {
    let rows: unknown[]
    try {
      ;({ rows } = await pool.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
        target.schema,
      ]))
    } catch (error) {
      throw new CliError(
        `Cannot reach Postgres at ${hidePassword(target.connectionString)}: ${messageOf(error)}`,
        EXIT.unreachable,
        {
          cause: error,
        },
      )
    }
    if (rows.length === 0)
      throw new CliError(
        `Postgres at ${hidePassword(target.connectionString)} has no schema "${target.schema}": pass the schema your application uses (?schema=name or --schema name)`,
        EXIT.unreachable,
      )
    const { PostgresStorage } = await import('../storage/postgres/postgres-storage.js')
    const store = new PostgresStorage({ pool, schema: target.schema, warn: () => undefined })
    try {
      await store.init()
    } catch (error) {
      throw new CliError(
        `Cannot open Postgres schema "${target.schema}": ${messageOf(error)}`,
        EXIT.unreachable,
        {
          cause: error,
        },
      )
    }
    return {
      store,
      target,
      label: target.display,
      close: async () => {
        await store.close()
        await pool.end()
      },
    }
  } catch (error) {
    await pool.end().catch(() => undefined)
    throw error
  }
}
