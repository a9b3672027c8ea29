/**
 * Postgres test isolation: a fresh schema per test (or per file), dropped afterwards.
 *
 * The server comes from `DATABASE_URL` (default: the local trust-auth server). When it is
 * unreachable the Postgres tests are skipped with a loud message — except under `CI=true`, where
 * importing this module throws: CI must never pass by skipping them.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { describe } from 'vitest'

/** Connection string of the test server. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const CI = process.env.CI === 'true' || process.env.CI === '1'

async function probe(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch (error) {
    const message = `Postgres is unreachable at ${DATABASE_URL}: ${(error as Error).message}`
    if (CI)
      throw new Error(`${message}. CI=true: the Postgres tests must run, not be skipped.`, { cause: error })
    console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING POSTGRES TESTS — ${message}\n${'!'.repeat(78)}\n`)
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** True when the server answered. */
export const pgAvailable: boolean = await probe()

/** `describe`, or `describe.skip` when the server is unreachable outside CI. */
export const describePg: typeof describe = pgAvailable ? describe : (describe.skip as typeof describe)

/** A schema name no other test uses: `t_<12 hex>`. */
export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`
}

let admin: pg.Pool | undefined

/** A small pool for raw SQL in tests (inspecting, corrupting, terminating backends). */
export function adminPool(): pg.Pool {
  if (!admin) {
    admin = new pg.Pool({ connectionString: DATABASE_URL, max: 4 })
    admin.on('error', () => undefined)
  }
  return admin
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await adminPool().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

/** Ends the admin pool (call in `afterAll`). */
export async function endAdminPool(): Promise<void> {
  const pool = admin
  admin = undefined
  await pool?.end()
}

/** Waits until a statement on `schema` (other than the admin pool's) is blocked on a lock; its pid. */
export async function waitForLockWaiter(schema: string): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await adminPool().query(
      `SELECT pid FROM pg_stat_activity
       WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [`"${schema}"`],
    )
    if (rows[0]) return rows[0].pid as number
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`no statement on schema ${schema} is waiting on a lock`)
}
