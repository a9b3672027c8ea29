/**
 * Mapping between Postgres rows and the contract's records.
 *
 * `bigint` columns (epoch-ms times, revision) arrive from `pg` as strings, because a 64-bit
 * integer does not fit a JavaScript number in general; epoch milliseconds and revisions do, so
 * they are converted with `Number`. Text columns are returned untouched: bodies, input and meta
 * are codec strings and must round-trip byte for byte.
 */
import { StorageError } from '../../errors.js'
import type { WorkflowStatus } from '../../types.js'
import type {
  CheckpointRecord,
  ListRunsParams,
  NewRun,
  RunRecord,
  RunSnapshot,
  SignalRecord,
} from '../contract.js'

/** A `runs` row as `pg` returns it. */
export interface RunRow {
  id: string
  workflow_name: string
  workflow_version: string | null
  definition_hash: string
  definition_key: string
  status: string
  queue: string
  priority: number
  input: string
  cursor: number
  waiting_for: string | null
  wake_at: string | number | null
  lease_owner: string | null
  lease_token: string | null
  lease_expires_at: string | number | null
  error: string | null
  meta: string
  created_at: string | number
  updated_at: string | number
  completed_at: string | number | null
  revision: string | number
}

/** A runs row with its checkpoints and mailbox aggregated as JSON (see `loadRun`). */
export interface SnapshotRow extends RunRow {
  checkpoints: CheckpointRecord[]
  signals: SignalRecord[]
}

function num(value: string | number, column: string, id: string): number {
  const n = typeof value === 'number' ? value : Number(value)
  if (!Number.isFinite(n)) throw new StorageError(`Run ${id} has a corrupt ${column}: ${String(value)}`)
  return n
}

function numOrNull(value: string | number | null, column: string, id: string): number | null {
  return value === null ? null : num(value, column, id)
}

/** A runs row as a {@link RunRecord} (a fresh object: callers may mutate it). */
export function toRunRecord(row: RunRow): RunRecord {
  const id = row.id
  return {
    id,
    workflowName: row.workflow_name,
    workflowVersion: row.workflow_version,
    definitionHash: row.definition_hash,
    definitionKey: row.definition_key,
    status: row.status as WorkflowStatus,
    queue: row.queue,
    priority: row.priority,
    input: row.input,
    cursor: row.cursor,
    waitingFor: row.waiting_for,
    wakeAt: numOrNull(row.wake_at, 'wake_at', id),
    leaseOwner: row.lease_owner,
    leaseToken: row.lease_token,
    leaseExpiresAt: numOrNull(row.lease_expires_at, 'lease_expires_at', id),
    error: row.error,
    meta: row.meta,
    createdAt: num(row.created_at, 'created_at', id),
    updatedAt: num(row.updated_at, 'updated_at', id),
    completedAt: numOrNull(row.completed_at, 'completed_at', id),
    revision: num(row.revision, 'revision', id),
  }
}

/** A snapshot row as a {@link RunSnapshot}. */
export function toSnapshot(row: SnapshotRow): RunSnapshot {
  return {
    run: toRunRecord(row),
    checkpoints: row.checkpoints.map((c) => ({ seq: c.seq, at: c.at, body: c.body })),
    signals: row.signals.map((g) => ({ name: g.name, payload: g.payload, at: g.at })),
  }
}

/** What each of {@link runParams} is, for error messages. */
const RUN_FIELDS = [
  'id',
  'workflowName',
  'workflowVersion',
  'definitionHash',
  'definitionKey',
  'status',
  'queue',
  'priority',
  'input',
  'cursor',
  'waitingFor',
  'wakeAt',
  'leaseOwner',
  'leaseToken',
  'leaseExpiresAt',
  'error',
  'meta',
  'createdAt',
  'updatedAt',
  'completedAt',
] as const

/** A run row's values in column order: one row of `createRuns`, $1..$20 of `replaceRun`. */
export function runParams(run: NewRun | RunRecord, lease: LeaseColumns): unknown[] {
  return [
    run.id,
    run.workflowName,
    run.workflowVersion,
    run.definitionHash,
    run.definitionKey,
    run.status,
    run.queue,
    run.priority,
    run.input,
    run.cursor,
    run.waitingFor,
    run.wakeAt,
    lease.leaseOwner,
    lease.leaseToken,
    lease.leaseExpiresAt,
    run.error,
    run.meta,
    run.createdAt,
    run.updatedAt,
    run.completedAt,
  ]
}

/** The lease columns written with a row. */
export type LeaseColumns = Pick<RunRecord, 'leaseOwner' | 'leaseToken' | 'leaseExpiresAt'>

/**
 * True when `value` holds U+0000. Postgres `text` cannot, so no stored id, name or key can: a
 * lookup by such a value matches nothing (and sending it would fail with "invalid byte sequence").
 */
export function hasNul(value: string): boolean {
  return value.includes('\0')
}

/** The `idPrefix` filter as a LIKE pattern that matches the prefix literally. */
export function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, '\\$&')}%`
}

/** Order of `claimDue` results: higher priority first, then oldest due (as MemoryStorage). */
export function byDueOrder(a: RunRecord, b: RunRecord): number {
  return (
    b.priority - a.priority ||
    (a.wakeAt ?? a.createdAt) - (b.wakeAt ?? b.createdAt) ||
    a.createdAt - b.createdAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  )
}

/** The field of a run row (from {@link runParams}) holding U+0000, which Postgres text cannot store. */
export function nulRunField(row: readonly unknown[]): string | undefined {
  const index = row.findIndex((value) => typeof value === 'string' && hasNul(value))
  return index >= 0 ? RUN_FIELDS[index] : undefined
}

/** Parameters of `replaceRun`: the row, its revision, last seq and checkpoints. */
export function replaceParams(run: RunRecord, checkpoints: readonly CheckpointRecord[]): unknown[] {
  return [
    ...runParams(run, run),
    run.revision,
    checkpoints.reduce((max, c) => Math.max(max, c.seq), 0),
    checkpoints.map((c) => c.seq),
    checkpoints.map((c) => c.at),
    checkpoints.map((c) => c.body),
  ]
}

/** Parameters $1..$7 of `listRuns` (all filters nullable). */
export function listParams(params: ListRunsParams): unknown[] {
  return [
    params.workflowName ?? null,
    params.statuses ? [...params.statuses] : null,
    params.idPrefix !== undefined ? prefixPattern(params.idPrefix) : null,
    params.createdAfter ?? null,
    params.createdBefore ?? null,
    params.limit === undefined ? null : Math.max(0, Math.floor(params.limit)),
    Math.max(0, Math.floor(params.offset ?? 0)),
  ]
}
