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
 * the plain claim; `caps` maps each capped queue to its cap; `named` are the queues the claim
 * is restricted to, if any (see `claimDueCapped` for why they are read one by one).
 */
export async function claimCapped(
  pool: PoolLike,
  sql: Statements,
  schema: string,
  values: unknown[],
  caps: ReadonlyMap<string, number>,
  named: readonly string[] | undefined,
): Promise<string[]> {
  const locked = [...caps.keys()]
  const queues = named ? [...new Set([...locked, ...named])] : locked
  const held = await holdClient(pool, 'claimDue')
  const { client } = held
  let broken = false
  try {
    // JIT off for this transaction: the generic plan of the claim, whose limit it cannot see,
    // is estimated costly enough to be JIT-compiled at every execution once a queue holds
    // thousands of due runs — 30 ms of compiling for a 5 ms claim (measured, PostgreSQL 15).
    // One round trip: without parameters both statements go as one simple query.
    await executeSql(client, 'BEGIN; SET LOCAL jit = off', [], 'claimDue')
    await executeSql(client, sql.queueLocks, [schema, locked], 'claimDue (queue locks)', true)
    const { rows } = await executeSql(
      client,
      sql.claimDueCapped,
      [...values, queues, queues.map((q) => caps.get(q) ?? null)],
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
