/**
 * A real `pg.Pool` that counts the statements sent through it — how the group-commit test sees
 * round trips. Nothing is faked: every query goes to the server.
 */
import pg from 'pg'
import type {
  PoolClientLike,
  PoolLike,
  QueryConfigLike,
  QueryResultLike,
} from '../../src/storage/postgres/driver.js'
import { DATABASE_URL } from './pg-schema.js'

/** A counting pool and the pool underneath (end it yourself). */
export interface CountingPool {
  pool: PoolLike
  inner: pg.Pool
  /** Statements sent so far (pool.query and checked-out clients alike). */
  readonly count: number
  /** The texts of those statements, in order. */
  readonly texts: string[]
  reset(): void
}

/** A pool whose statements are counted. */
export function countingPool(max = 4): CountingPool {
  const inner = new pg.Pool({ connectionString: DATABASE_URL, max })
  inner.on('error', () => undefined)
  const texts: string[] = []
  const record = (statement: string | QueryConfigLike) => {
    const text = typeof statement === 'string' ? statement : statement.text
    texts.push(text.replace(/\s+/g, ' ').trim().slice(0, 80))
  }
  const pool: PoolLike = {
    query(statement: string | QueryConfigLike, values?: unknown[]): Promise<QueryResultLike> {
      record(statement)
      return typeof statement === 'string' ? inner.query(statement, values) : inner.query(statement)
    },
    async connect(): Promise<PoolClientLike> {
      const client = await inner.connect()
      return new Proxy(client, {
        get(target, key) {
          if (key === 'query') {
            return (statement: string | QueryConfigLike, values?: unknown[]) => {
              record(statement)
              return typeof statement === 'string' ? target.query(statement, values) : target.query(statement)
            }
          }
          const value = Reflect.get(target, key, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      }) as unknown as PoolClientLike
    },
    end: () => inner.end(),
  }
  return {
    pool,
    inner,
    get count() {
      return texts.length
    },
    texts,
    reset() {
      texts.length = 0
    },
  }
}
