/**
 * The writes that go through group commit: `createRun`, `checkpoint`, `park`, `renewLeases`,
 * `release`. Each is a function of the connection, run inside the batch transaction (see
 * group-commit.ts); each throws to fail alone, and a fenced one throws `LeaseLostError` when its
 * UPDATE matched no row — never a silent no-op.
 */
import { LeaseLostError } from '../../errors.js'
import {
  type CheckpointParams,
  type CreateRunParams,
  type CreateRunResult,
  newRunRecord,
  type ParkParams,
  type ParkResult,
  type ReleaseParams,
  type RenewLeasesParams,
} from '../contract.js'
import type { SqliteConnection } from './driver.js'
import type { BatchedWrite } from './group-commit.js'
import { type RunRow, runParams, toRunRecord, toSignal } from './rows.js'
import { CHECKPOINT_COLUMNS, LEASE_BIT, RELEASE_BIT, type StoreSql } from './sql.js'

/** Insert if absent; an existing run is returned as it is and nothing is written. */
export function createRunWrite(
  sql: StoreSql,
  { run, lease }: CreateRunParams,
): BatchedWrite<CreateRunResult> {
  const record = newRunRecord(run, lease)
  return (conn) => {
    if (conn.run(sql.insertRunIfAbsent, runParams(record)) === 1) return { created: true, run: { ...record } }
    const existing = conn.get<RunRow>(sql.selectRun, { id: run.id })
    if (!existing) throw new Error(`run ${run.id} neither inserted nor found`)
    return { created: false, run: toRunRecord(existing) }
  }
}

/** The fenced checkpoint. */
export function checkpointWrite(sql: StoreSql, params: CheckpointParams): BatchedWrite<void> {
  return (conn) => applyCheckpoint(conn, sql, params)
}

/** The fenced suspend: writes nothing and keeps the lease when the awaited signal is already here. */
export function parkWrite(sql: StoreSql, params: ParkParams): BatchedWrite<ParkResult> {
  return (conn) => {
    const row = conn.get<{ lease_token: unknown }>(sql.selectLeaseToken, { id: params.id })
    if (!row || row.lease_token !== params.token) throw new LeaseLostError(params.id)
    if (params.unlessSignal !== undefined) {
      const signal = conn.get<{ name: unknown; payload: unknown; at: unknown }>(sql.selectSignal, {
        id: params.id,
        name: params.unlessSignal,
      })
      if (signal) return { parked: false, signal: toSignal(params.id, signal) }
    }
    applyCheckpoint(conn, sql, params)
    return { parked: true }
  }
}

/** Extends the leases the token still holds, in the order asked; like the reference, no revision bump. */
export function renewLeasesWrite(
  sql: StoreSql,
  { token, ids, expiresAt }: RenewLeasesParams,
): BatchedWrite<string[]> {
  const list = ids.slice()
  return (conn) => list.filter((id) => conn.run(sql.renewLease, { id, token, expiresAt }) === 1)
}

/** Drops the lease if the token holds it; otherwise a no-op (not an error: the run moved on). */
export function releaseWrite(sql: StoreSql, { id, token, now }: ReleaseParams): BatchedWrite<void> {
  return (conn) => {
    conn.run(sql.releaseLease, { id, token, now })
  }
}

/** The row a checkpoint compares its patch with: lease_token and the first COMPARED columns. */
type CheckpointRow = Record<string, unknown>

/** How many of CHECKPOINT_COLUMNS selectCheckpointRow reads. */
const COMPARED = 5

/**
 * The fence is checked on the row read inside the batch's transaction (BEGIN IMMEDIATE: no other
 * process writes until it commits) and again by the UPDATE's WHERE. The UPDATE names only the
 * patch fields whose value changed, so an unchanged status or timer rewrites no index; the
 * append and the mailbox delete follow.
 */
function applyCheckpoint(conn: SqliteConnection, sql: StoreSql, params: CheckpointParams): void {
  const { id, token, now, patch } = params
  const current = conn.get<CheckpointRow>(sql.selectCheckpointRow, { id })
  if (!current || current.lease_token !== token) throw new LeaseLostError(id)
  const values: Record<string, string | number | null> = { id, token, now }
  let mask = 0
  for (let bit = 0; bit < CHECKPOINT_COLUMNS.length; bit++) {
    const [column, key] = CHECKPOINT_COLUMNS[bit]!
    const value = patch[key]
    if (value === undefined || (bit < COMPARED && value === current[column])) continue
    mask |= 1 << bit
    values[key] = value
  }
  if (params.release) mask |= RELEASE_BIT
  else if (params.leaseExpiresAt !== undefined && params.leaseExpiresAt !== null) {
    mask |= LEASE_BIT
    values.leaseExpiresAt = params.leaseExpiresAt
  }
  if (conn.run(sql.checkpointRun(mask), values) === 0) throw new LeaseLostError(id)
  if (params.body !== undefined) {
    const seq = conn.get<{ seq: number }>(sql.nextCheckpointSeq, { id })!.seq
    conn.run(sql.insertCheckpoint, { id, seq, at: now, body: params.body })
  }
  if (params.consumeSignal !== undefined) conn.run(sql.deleteSignal, { id, name: params.consumeSignal })
}
