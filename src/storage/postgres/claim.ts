/**
 * A claim with queue limits: the one Postgres verb that needs more than one statement. It runs
 * on a client held for its transaction — BEGIN, the advisory locks of the capped queues, the
 * count-and-claim, COMMIT — because the count must be read by a statement that starts after
 * the locks are held (see `queueLocks` and `claimDueCapped` in claim-sql.ts).
 */
import { executeSql, holdClient, type PoolLike } from './driver.js'
import type { Statements } from './sql.js'

/**
 * Runs the capped claim; resolves with the ids it leased. `values` are the parameters $1..$8 of
 * the plain claim; `caps` maps each capped queue to its cap.
 */
export async function claimCapped(
  pool: PoolLike,
  sql: Statements,
  schema: string,
  values: unknown[],
  caps: ReadonlyMap<string, number>,
): Promise<string[]> {
  const queues = [...caps.keys()]
  const held = await holdClient(pool, 'claimDue')
  const { client } = held
  let broken = false
  try {
    await executeSql(client, 'BEGIN', [], 'claimDue')
    await executeSql(client, sql.queueLocks, [schema, queues], 'claimDue (queue locks)', true)
    const { rows } = await executeSql(
      client,
      sql.claimDueCapped,
      [...values, queues, [...caps.values()]],
      'claimDue',
      true,
    )
    await executeSql(client, 'COMMIT', [], 'claimDue')
    return rows.map((r: { id: string }) => r.id)
  } catch (error) {
    // A connection that cannot even roll back is not handed to the next user of the pool.
    broken = await client.query('ROLLBACK').then(
      () => false,
      () => true,
    )
    throw error
  } finally {
    held.release(broken)
  }
}
