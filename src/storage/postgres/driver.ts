/**
 * The driver seam: the few structural `…Like` types a pool must satisfy (a `pg.Pool` does, so
 * users can pass their own), creating our own pool from `pg` when they do not, and the one way
 * SQL is executed (`executeSql`, as in pg-boss), which turns driver failures into `StorageError`.
 *
 * `pg` is an optional peer: it is loaded with a dynamic `import()` only when a pool must be
 * created, so an application that passes its own pool, or never uses Postgres, never loads it.
 */
import { createHash } from 'node:crypto'
import { StorageError } from '../../errors.js'

/** What a query returns (the part of `pg.QueryResult` we read). */
export interface QueryResultLike {
  rows: any[]
  rowCount: number | null
}

/** A `LISTEN` notification (the part of `pg.Notification` we read). */
export interface NotificationLike {
  channel: string
  payload?: string | undefined
}

/** A statement with its parameters; `name` makes it a prepared statement (pg's `QueryConfig`). */
export interface QueryConfigLike {
  text: string
  values?: unknown[]
  name?: string
}

/** Anything that runs parameterized SQL: a pool or a checked-out client. */
export interface QueryableLike {
  query(textOrConfig: string | QueryConfigLike, values?: unknown[]): Promise<QueryResultLike>
}

/** A client checked out of a pool (`pg.PoolClient`). */
export interface PoolClientLike extends QueryableLike {
  /** Hands the client back; a truthy argument destroys it instead (pg-pool semantics). */
  release(destroy?: Error | boolean): void
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'end', listener: () => void): unknown
  on(event: 'notification', listener: (message: NotificationLike) => void): unknown
  removeListener(event: string, listener: (...args: any[]) => void): unknown
}

/** A connection pool (`pg.Pool`). */
export interface PoolLike extends QueryableLike {
  connect(): Promise<PoolClientLike>
  end(): Promise<void>
}

/** The slice of the `pg` module we use. */
interface PgModule {
  Pool: new (config: {
    connectionString?: string
    max?: number
    application_name?: string
  }) => PoolLike & { on(event: 'error', listener: (error: Error) => void): unknown }
}

/** Creates a pool from the optional `pg` peer. */
export async function createPool(options: { connectionString?: string; max: number }): Promise<PoolLike> {
  let loaded: PgModule & { default?: PgModule }
  try {
    loaded = (await import('pg')) as unknown as PgModule & { default?: PgModule }
  } catch (error) {
    throw new StorageError('PostgresStorage needs the "pg" package when no pool is given: npm install pg', {
      cause: error,
    })
  }
  const pg = loaded.default ?? loaded
  const pool = new pg.Pool({
    ...(options.connectionString !== undefined ? { connectionString: options.connectionString } : {}),
    max: options.max,
    application_name: 'fluxflow',
  })
  // An idle client whose backend died is reported here. pg-pool has already dropped it and the
  // next checkout gets a new connection; without a listener the 'error' event would crash the
  // process.
  pool.on('error', () => undefined)
  return pool
}

/**
 * Runs one statement; any driver failure becomes a `StorageError` whose `cause` is the original.
 *
 * With `prepared`, the statement is named after a hash of its text, so each connection parses and
 * plans it once and then only binds and executes it: for the CTEs of the hot verbs, planning costs
 * about as much as executing. The hash keeps names unique per text (pg refuses one name for two
 * texts on a connection), including across schemas sharing a pool.
 */
export async function executeSql(
  db: QueryableLike,
  text: string,
  values: unknown[],
  what: string,
  prepared = false,
): Promise<QueryResultLike> {
  try {
    return await (prepared ? db.query({ name: statementName(text), text, values }) : db.query(text, values))
  } catch (error) {
    throw storageError(what, error)
  }
}

const names = new Map<string, string>()

function statementName(text: string): string {
  let name = names.get(text)
  if (name === undefined) {
    name = `fluxflow_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
    names.set(text, name)
  }
  return name
}

/** A driver failure as a `StorageError` naming the operation. */
export function storageError(what: string, error: unknown): StorageError {
  if (error instanceof StorageError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new StorageError(`PostgresStorage ${what} failed: ${message}`, { cause: error })
}

/** A client held for a while (the writer, a migration, the listener), with its failure recorded. */
export interface HeldClient {
  client: PoolClientLike
  /** The connection-level error the client reported while held, if any. */
  readonly failure: Error | undefined
  /** Returns the client to the pool, or destroys it after a failure or when asked to. */
  release(destroy?: unknown): void
}

/**
 * Checks a client out and listens for its errors while it is held: pg-pool removes its own
 * listener on checkout, and an 'error' event with no listener would crash the process when the
 * backend is terminated between two queries.
 */
export async function holdClient(pool: PoolLike, what: string): Promise<HeldClient> {
  let failure: Error | undefined
  const onError = (error: Error) => {
    failure ??= error
  }
  let client: PoolClientLike
  try {
    client = await checkout(pool, onError)
  } catch (error) {
    throw storageError(`${what} (connect)`, error)
  }
  let released = false
  return {
    client,
    get failure() {
      return failure
    },
    release(destroy?: unknown) {
      if (released) return
      released = true
      const reason = failure ?? (destroy ? toDestroyReason(destroy) : undefined)
      // Keep our listener when destroying: the dying client may still emit 'error'.
      if (!reason) client.removeListener('error', onError)
      client.release(reason ?? undefined)
    },
  }
}

/**
 * Takes a client from the pool with our 'error' listener attached before anything else can run.
 * pg-pool removes its own listener at checkout; with the promise form, a FATAL that arrives in
 * the same read as the new connection's ReadyForQuery is emitted before the awaiting code resumes,
 * on a client with no listener, and kills the process (test/postgres-findings.test.ts). The
 * callback form runs our code synchronously at checkout. A user's pool that only returns a
 * promise (it ignores the callback) gets the listener when the promise resolves.
 */
function checkout(pool: PoolLike, onError: (error: Error) => void): Promise<PoolClientLike> {
  return new Promise((resolve, reject) => {
    let settled = false
    const connect = pool.connect as unknown as (
      callback?: (error: Error | undefined, client?: PoolClientLike) => void,
    ) => Promise<PoolClientLike> | undefined
    const returned = connect.call(pool, (error, client) => {
      if (settled) return
      settled = true
      if (error || !client) reject(error ?? new Error('pool.connect gave no client'))
      else {
        client.on('error', onError)
        resolve(client)
      }
    })
    if (returned && typeof returned.then === 'function') {
      returned.then(
        (client) => {
          if (settled) return
          settled = true
          client.on('error', onError)
          resolve(client)
        },
        (error: unknown) => {
          if (settled) return
          settled = true
          reject(error)
        },
      )
    }
  })
}

function toDestroyReason(value: unknown): Error | true {
  return value instanceof Error ? value : true
}
