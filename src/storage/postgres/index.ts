/**
 * fluxflow/postgres: durable storage on PostgreSQL for scale-out workers.
 */
export type {
  NotificationLike,
  PoolClientLike,
  PoolLike,
  QueryableLike,
  QueryConfigLike,
  QueryResultLike,
} from './driver.js'
export { PostgresStorage, type PostgresStorageOptions } from './postgres-storage.js'
