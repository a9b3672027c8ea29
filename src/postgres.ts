/**
 * fluxflow/postgres: the scale-out store. Any number of processes on any number of machines run
 * workers against one database; claims use `FOR UPDATE SKIP LOCKED`, LISTEN/NOTIFY wakes idle
 * workers. Needs `pg` 8 (an optional peer dependency) unless you pass your own pool.
 *
 * @example
 * ```ts
 * import { FluxEngine } from 'fluxflow'
 * import { PostgresStorage } from 'fluxflow/postgres'
 *
 * const engine = new FluxEngine({ storage: new PostgresStorage({ connectionString: process.env.DATABASE_URL }) })
 * await engine.worker({ workflows: [orderFlow], concurrency: 20 }).start()
 * ```
 */
export {
  type NotificationLike,
  type PoolClientLike,
  type PoolLike,
  PostgresStorage,
  type PostgresStorageOptions,
  type QueryableLike,
  type QueryConfigLike,
  type QueryResultLike,
} from './storage/postgres/index.js'
