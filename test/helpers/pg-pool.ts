/**
 * A real `pg.Pool` that counts the statements sent through it — how the group-commit test sees
 * round trips. Nothing is faked: every query goes to the server.
 */
import pg from 'pg'
import type { PoolClientLike, PoolLike, QueryResultLike } from '../../src/storage/postgres/driver.js'
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
  const record = (text: string) => {
    texts.push(text.replace(/\s+/g, ' ').slice(0, 80))
  }
  const pool: PoolLike = {
    query(text: string, values?: unknown[]): Promise<QueryResultLike> {
      record(text)
      return inner.query(text, values)
    },
    async connect(): Promise<PoolClientLike> {
      const client = await inner.connect()
      return new Proxy(client, {
        get(target, key) {
          if (key === 'query') {
            return (text: string, values?: unknown[]) => {
              record(text)
              return target.query(text, values)
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
