/**
 * Schema migrations: numbered, applied in order, each recorded in `<schema>.migrations`.
 *
 * The whole run happens in one transaction that first takes a transaction-scoped advisory lock
 * keyed by the schema name. Two processes starting at once therefore migrate one after the other:
 * the second waits for the lock, then finds every version recorded and applies nothing. DDL is
 * transactional in Postgres, so a failure leaves no half-applied migration behind.
 */
import { executeSql, holdClient, type PoolLike } from './driver.js'
import type { Statements } from './sql.js'

/** Brings `schema` up to date; resolves with the versions it applied (empty when already current). */
export async function migrate(pool: PoolLike, schema: string, sql: Statements): Promise<number[]> {
  const held = await holdClient(pool, 'migration')
  const { client } = held
  let failure: unknown
  try {
    await executeSql(client, 'BEGIN', [], 'migration')
    await executeSql(client, sql.migrationLock, [schema], 'migration lock')
    await executeSql(client, sql.createSchema, [], 'migration')
    await executeSql(client, sql.createMigrationsTable, [], 'migration')
    const { rows } = await executeSql(client, sql.appliedMigrations, [], 'migration')
    const done = new Set(rows.map((r: { version: number }) => r.version))
    const applied: number[] = []
    for (const migration of sql.migrations) {
      if (done.has(migration.version)) continue
      for (const statement of migration.statements)
        await executeSql(client, statement, [], `migration ${migration.version} (${migration.name})`)
      await executeSql(client, sql.recordMigration, [migration.version, migration.name], 'migration')
      applied.push(migration.version)
    }
    await executeSql(client, 'COMMIT', [], 'migration')
    return applied
  } catch (error) {
    failure = error
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    held.release(failure)
  }
}
