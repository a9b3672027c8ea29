/**
 * The verbs that run at once in their own transaction: reads, `claimRun`, the mailbox, cancel,
 * delete and replace (`claimDue` is in claim.ts). A verb that reads and then writes runs inside `BEGIN IMMEDIATE`, which
 * takes the database's write lock before the read: another process on the same file waits (up
 * to the busy timeout) instead of acting on what this one is about to change. Multi-statement
 * reads run in one deferred transaction, so they see one snapshot.
 *
 * Decisions that the contract leaves to "is the lease free / is the run due" use the same
 * predicates as MemoryStorage (`leaseIsFree` from the contract, the due conditions in
 * `selectDue`), so the engine behaves the same on both.
 */

import { isTerminalStatus } from '../../types.js'
import type {
  CancelRunParams,
  ClaimRunParams,
  DeliverSignalParams,
  DeliverSignalResult,
  ListRunsParams,
  ListRunsResult,
  ReplacementRun,
  RunRecord,
  RunSnapshot,
} from '../contract.js'
import { leaseIsFree } from '../contract.js'
import type { SqliteConnection, SqlValue } from './driver.js'
import { rollbackQuietly } from './group-commit.js'
import { type RunRow, runParams, toCheckpoint, toRunRecord, toSignal } from './rows.js'
import { IN_FLIGHT_STATUSES, type StoreSql, TX, UNINDEXED_STATUSES } from './sql.js'

/** Runs `fn` between `begin` and COMMIT; rolls back if it throws. */
export function transaction<T>(conn: SqliteConnection, begin: string, fn: () => T): T {
  conn.run(begin)
  let result: T
  try {
    result = fn()
  } catch (error) {
    rollbackQuietly(conn)
    throw error
  }
  conn.run(TX.commit)
  return result
}

/** One run row, or null. */
export function readRun(conn: SqliteConnection, sql: StoreSql, id: string): RunRecord | null {
  const row = conn.get<RunRow>(sql.selectRun, { id })
  return row ? toRunRecord(row) : null
}

/** A run with its checkpoints and mailbox; call inside a transaction. */
export function readSnapshot(conn: SqliteConnection, sql: StoreSql, id: string): RunSnapshot | null {
  const run = readRun(conn, sql, id)
  if (!run) return null
  const checkpoints = conn
    .all<{ seq: unknown; at: unknown; body: unknown }>(sql.selectCheckpoints, { id })
    .map((row) => toCheckpoint(id, row))
  const signals = conn
    .all<{ name: unknown; payload: unknown; at: unknown }>(sql.selectSignals, { id })
    .map((row) => toSignal(id, row))
  return { run, checkpoints, signals }
}

export function loadRun(conn: SqliteConnection, sql: StoreSql, id: string): RunSnapshot | null {
  return transaction(conn, TX.beginRead, () => readSnapshot(conn, sql, id))
}

/**
 * Newest first with the filters given. The WHERE clause is assembled from the fixed fragments
 * of `sql.listFilters` (never from values), so there are at most 32 distinct statement texts,
 * each cached once prepared, and each can use the index that fits its filters.
 */
export function listRuns(conn: SqliteConnection, sql: StoreSql, params: ListRunsParams): ListRunsResult {
  const where: string[] = []
  const values: Record<string, SqlValue> = {}
  const f = sql.listFilters
  if (params.workflowName !== undefined) {
    where.push(f.workflowName)
    values.workflowName = params.workflowName
  }
  let live = false
  if (params.statuses !== undefined) {
    where.push(f.statuses)
    values.statuses = JSON.stringify(params.statuses)
    // Only a query that repeats a partial index's WHERE can read it (see RESTING_RUNS, LIVE_RUNS).
    if (params.statuses.every((status) => !UNINDEXED_STATUSES.has(status))) where.push(f.resting)
    else if (params.statuses.every((status) => IN_FLIGHT_STATUSES.has(status))) {
      where.push(f.live)
      live = true
    }
  }
  if (params.idPrefix !== undefined && params.idPrefix !== '') {
    const upper = prefixUpperBound(params.idPrefix)
    where.push(upper === null ? f.idPrefixOpen : f.idPrefixRange)
    values.idFrom = params.idPrefix
    if (upper !== null) values.idTo = upper
  }
  if (params.createdAfter !== undefined) {
    where.push(f.createdAfter)
    values.createdAfter = params.createdAfter
  }
  if (params.createdBefore !== undefined) {
    where.push(f.createdBefore)
    values.createdBefore = params.createdBefore
  }
  const clause = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''
  const limit = params.limit === undefined ? -1 : Math.max(0, Math.trunc(params.limit))
  const offset = Math.max(0, Math.trunc(params.offset ?? 0))
  return transaction(conn, TX.beginRead, () => {
    const countHead = live ? sql.countHeadLive : sql.countHead
    const total = Number(conn.get<{ total: unknown }>(`${countHead}${clause}`, values)?.total ?? 0)
    const runs =
      limit === 0 || offset >= total
        ? []
        : conn
            .all<RunRow>(`${live ? sql.listHeadLive : sql.listHead}${clause} ${sql.listTail}`, {
              ...values,
              limit,
              offset,
            })
            .map(toRunRecord)
    return { runs, total }
  })
}

/**
 * The least string greater than every string that starts with `prefix`, in SQLite's BINARY
 * order (UTF-8 bytes, which is code point order): the prefix with its last code point
 * incremented (past the surrogates, which UTF-8 cannot hold). Null when there is none (the
 * prefix is all U+10FFFF). The range [prefix, bound) holds exactly the strings that start with
 * the prefix: no code point lies between the last one and its successor.
 */
export function prefixUpperBound(prefix: string): string | null {
  const points = Array.from(prefix)
  while (points.length > 0) {
    let next = points.pop()!.codePointAt(0)! + 1
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000
    if (next <= 0x10ffff) return points.join('') + String.fromCodePoint(next)
  }
  return null
}

export function claimRun(
  conn: SqliteConnection,
  sql: StoreSql,
  { id, lease, now, statuses }: ClaimRunParams,
): RunSnapshot | null {
  return transaction(conn, TX.beginImmediate, () => {
    const run = readRun(conn, sql, id)
    if (!run) return null
    if (statuses && !statuses.includes(run.status)) return null
    if (!leaseIsFree(run, lease, now)) return null
    conn.run(sql.takeLease, { id, owner: lease.owner, token: lease.token, expiresAt: lease.expiresAt, now })
    return readSnapshot(conn, sql, id)
  })
}

export function deliverSignal(
  conn: SqliteConnection,
  sql: StoreSql,
  { id, name, payload, now }: DeliverSignalParams,
): DeliverSignalResult {
  return transaction(conn, TX.beginImmediate, () => {
    const run = readRun(conn, sql, id)
    if (!run) return { outcome: 'not-found' }
    if (isTerminalStatus(run.status)) return { outcome: 'ended', run }
    const atWait = run.status === 'suspended' && run.waitingFor !== null
    if (atWait && run.waitingFor !== name) return { outcome: 'mismatch', run }
    if (conn.get(sql.selectSignal, { id, name })) return { outcome: 'duplicate', run }
    conn.run(sql.insertSignal, { id, name, payload, at: now })
    conn.run(sql.touchRun, { id, now })
    return { outcome: atWait ? 'delivered' : 'queued', run: readRun(conn, sql, id)! }
  })
}

export function cancelRun(
  conn: SqliteConnection,
  sql: StoreSql,
  { id, now, error }: CancelRunParams,
): RunRecord | null {
  return transaction(conn, TX.beginImmediate, () => {
    const run = readRun(conn, sql, id)
    if (!run || isTerminalStatus(run.status)) return run
    conn.run(sql.cancelRun, { id, now, error })
    return readRun(conn, sql, id)
  })
}

export function deleteRun(conn: SqliteConnection, sql: StoreSql, id: string): boolean {
  return transaction(conn, TX.beginImmediate, () => {
    conn.run(sql.deleteCheckpoints, { id })
    conn.run(sql.deleteSignals, { id })
    return conn.run(sql.deleteRun, { id }) > 0
  })
}

/** Overwrites the run and its checkpoints; the mailbox is kept, as in the reference. */
export function replaceRun(
  conn: SqliteConnection,
  sql: StoreSql,
  { run, checkpoints }: ReplacementRun,
): void {
  transaction(conn, TX.beginImmediate, () => {
    const previous = conn.get<{ revision: unknown }>(sql.selectRevision, { id: run.id })
    const revision = Math.max(run.revision, (previous ? Number(previous.revision) : 0) + 1)
    conn.run(sql.upsertRun, runParams({ ...run, revision }))
    conn.run(sql.deleteCheckpoints, { id: run.id })
    for (const c of checkpoints) {
      conn.run(sql.insertCheckpoint, { id: run.id, seq: c.seq, at: c.at, body: c.body })
    }
  })
}
