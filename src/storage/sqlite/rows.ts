/**
 * Conversions between SQLite rows and the contract's records.
 *
 * Reading checks every column's type: a row edited by hand or damaged on disk fails with a
 * `StorageError` that names the run and the column, instead of reaching the engine as a value of
 * the wrong type. (The codec then names the run when a text column holds text that does not
 * decode.) Integers are accepted as bigint too, for handles opened with safe integers.
 */
import { StorageError } from '../../errors.js'
import { isWorkflowStatus, type WorkflowStatus } from '../../types.js'
import type { CheckpointRecord, RunRecord, SignalRecord } from '../contract.js'
import type { SqlParams } from './driver.js'

/** A runs row as SQLite returns it. */
export interface RunRow {
  id: unknown
  workflow_name: unknown
  workflow_version: unknown
  definition_hash: unknown
  definition_key: unknown
  status: unknown
  queue: unknown
  priority: unknown
  input: unknown
  cursor: unknown
  waiting_for: unknown
  wake_at: unknown
  lease_owner: unknown
  lease_token: unknown
  lease_expires_at: unknown
  error: unknown
  meta: unknown
  created_at: unknown
  updated_at: unknown
  completed_at: unknown
  revision: unknown
}

/** The record of a runs row; throws a `StorageError` naming the run for a malformed one. */
export function toRunRecord(row: RunRow): RunRecord {
  if (typeof row.id !== 'string') throw new StorageError(`A run row has a corrupt id (${describe(row.id)})`)
  const id = row.id
  const text = (column: keyof RunRow): string => {
    const value = row[column]
    if (typeof value !== 'string') throw corrupt(id, column, value)
    return value
  }
  const textOrNull = (column: keyof RunRow): string | null => (row[column] === null ? null : text(column))
  const int = (column: keyof RunRow): number => {
    const value = row[column]
    if (typeof value === 'bigint') return Number(value)
    if (typeof value !== 'number' || !Number.isFinite(value)) throw corrupt(id, column, value)
    return value
  }
  const intOrNull = (column: keyof RunRow): number | null => (row[column] === null ? null : int(column))
  const status = text('status')
  if (!isWorkflowStatus(status)) throw corrupt(id, 'status', status)
  return {
    id,
    workflowName: text('workflow_name'),
    workflowVersion: textOrNull('workflow_version'),
    definitionHash: text('definition_hash'),
    definitionKey: text('definition_key'),
    status: status as WorkflowStatus,
    queue: text('queue'),
    priority: int('priority'),
    input: text('input'),
    cursor: int('cursor'),
    waitingFor: textOrNull('waiting_for'),
    wakeAt: intOrNull('wake_at'),
    leaseOwner: textOrNull('lease_owner'),
    leaseToken: textOrNull('lease_token'),
    leaseExpiresAt: intOrNull('lease_expires_at'),
    error: textOrNull('error'),
    meta: text('meta'),
    createdAt: int('created_at'),
    updatedAt: int('updated_at'),
    completedAt: intOrNull('completed_at'),
    revision: int('revision'),
  }
}

/** A checkpoints row as a record; the body must be text. */
export function toCheckpoint(
  runId: string,
  row: { seq: unknown; at: unknown; body: unknown },
): CheckpointRecord {
  const seq = Number(row.seq)
  if (typeof row.body !== 'string') throw corrupt(runId, `checkpoint #${seq} body`, row.body)
  return { seq, at: Number(row.at), body: row.body }
}

/** A signals row as a record; the payload must be text. */
export function toSignal(runId: string, row: { name: unknown; payload: unknown; at: unknown }): SignalRecord {
  if (typeof row.name !== 'string') throw corrupt(runId, 'signal name', row.name)
  if (typeof row.payload !== 'string') throw corrupt(runId, `signal "${row.name}" payload`, row.payload)
  return { name: row.name, payload: row.payload, at: Number(row.at) }
}

/** The named parameters of a whole run (for inserts and upserts). */
export function runParams(run: RunRecord): SqlParams {
  return {
    id: run.id,
    workflowName: run.workflowName,
    workflowVersion: run.workflowVersion,
    definitionHash: run.definitionHash,
    definitionKey: run.definitionKey,
    status: run.status,
    queue: run.queue,
    priority: run.priority,
    input: run.input,
    cursor: run.cursor,
    waitingFor: run.waitingFor,
    wakeAt: run.wakeAt,
    leaseOwner: run.leaseOwner,
    leaseToken: run.leaseToken,
    leaseExpiresAt: run.leaseExpiresAt,
    error: run.error,
    meta: run.meta,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    completedAt: run.completedAt,
    revision: run.revision,
  }
}

function corrupt(id: string, column: string, value: unknown): StorageError {
  return new StorageError(`Run ${id} has a corrupt row: column ${column} holds ${describe(value)}`)
}

function describe(value: unknown): string {
  if (value === null) return 'NULL'
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`
  if (value instanceof Uint8Array) return `a ${value.byteLength}-byte BLOB`
  return `a ${typeof value}`
}
