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
import type { StoreSql } from './sql.js'

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

/**
 * The fence is the UPDATE's WHERE, so it is checked and applied in one statement; the append
 * and the mailbox delete follow only when it matched.
 */
function applyCheckpoint(conn: SqliteConnection, sql: StoreSql, params: CheckpointParams): void {
  const { id, token, now, patch } = params
  const changed = conn.run(sql.checkpointRun, {
    id,
    token,
    now,
    setStatus: patch.status !== undefined ? 1 : 0,
    status: patch.status ?? null,
    setCursor: patch.cursor !== undefined ? 1 : 0,
    cursor: patch.cursor ?? null,
    setWaitingFor: patch.waitingFor !== undefined ? 1 : 0,
    waitingFor: patch.waitingFor ?? null,
    setWakeAt: patch.wakeAt !== undefined ? 1 : 0,
    wakeAt: patch.wakeAt ?? null,
    setError: patch.error !== undefined ? 1 : 0,
    error: patch.error ?? null,
    setMeta: patch.meta !== undefined ? 1 : 0,
    meta: patch.meta ?? null,
    setCompletedAt: patch.completedAt !== undefined ? 1 : 0,
    completedAt: patch.completedAt ?? null,
    release: params.release ? 1 : 0,
    leaseExpiresAt: params.leaseExpiresAt ?? null,
  })
  if (changed === 0) throw new LeaseLostError(id)
  if (params.body !== undefined) {
    const seq = conn.get<{ seq: number }>(sql.nextCheckpointSeq, { id })!.seq
    conn.run(sql.insertCheckpoint, { id, seq, at: now, body: params.body })
  }
  if (params.consumeSignal !== undefined) conn.run(sql.deleteSignal, { id, name: params.consumeSignal })
}
