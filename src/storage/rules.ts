/**
 * The rules every storage adapter shares: which lease a claimer may take, the shape of a new or
 * copied run row, valid identifiers, queue caps. Part of the contract (re-exported by
 * contract.ts); pure functions, no I/O.
 */
import type { WorkflowStatus } from '../types.js'
import type { ClaimDueParams, FluxStore, LeaseParams, NewRun, RunRecord } from './contract.js'

/**
 * The row a `createRun` stores: the new run, its lease (if taken), revision 1. Built field by
 * field, a fixed shape every adapter shares (and V8 builds fast).
 */
export function newRunRecord(run: NewRun, lease?: LeaseParams): RunRecord {
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
    leaseOwner: lease?.owner ?? null,
    leaseToken: lease?.token ?? null,
    leaseExpiresAt: lease?.expiresAt ?? null,
    error: run.error,
    meta: run.meta,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    completedAt: run.completedAt,
    revision: 1,
  }
}

/** A copy of a run row (stores hand out copies, never their own objects). */
export function copyRunRecord(run: RunRecord): RunRecord {
  const copy = newRunRecord(run)
  copy.leaseOwner = run.leaseOwner
  copy.leaseToken = run.leaseToken
  copy.leaseExpiresAt = run.leaseExpiresAt
  copy.revision = run.revision
  return copy
}

/** Statuses a lease-expired run is continued from. */
export const ACTIVE_STATUSES: readonly WorkflowStatus[] = Object.freeze(['running', 'rolling_back'])

/** Valid table names / prefixes / schema names: letters, digits, underscores, not starting with a digit. */
export function assertIdentifier(name: string, what = 'table name'): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
    throw new TypeError(
      `Invalid ${what} "${name}": use letters, digits and underscores, not starting with a digit`,
    )
  }
  return name
}

/** True when `value` implements the durable contract rather than the origin's `save/load` interface. */
export function isFluxStore(value: unknown): value is FluxStore {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { durable?: unknown }).durable === true &&
    typeof (value as FluxStore).claimDue === 'function'
  )
}

/** The lease predicate every adapter implements: may `lease` take a run currently leased like `run`? */
export function leaseIsFree(
  run: Pick<RunRecord, 'leaseOwner' | 'leaseToken' | 'leaseExpiresAt'>,
  lease: Pick<LeaseParams, 'owner' | 'token'>,
  now: number,
): boolean {
  if (run.leaseToken === null || run.leaseToken === lease.token) return true
  if (run.leaseExpiresAt !== null && run.leaseExpiresAt <= now) return true
  return run.leaseOwner === lease.owner
}

/**
 * The finite caps of {@link ClaimDueParams.queueLimits} that can matter to a claim, as a map
 * (queue → cap, floored): queues the claim may take runs from (all, or those in `queues`),
 * without the `Infinity` ones. Null when none is left, which is the unlimited claim.
 * @throws {TypeError} for a cap that is negative or not a number.
 */
export function queueLimitsOf(
  params: Pick<ClaimDueParams, 'queueLimits' | 'queues'>,
): Map<string, number> | null {
  const limits = params.queueLimits
  if (limits === undefined) return null
  let caps: Map<string, number> | null = null
  for (const queue of Object.keys(limits)) {
    const cap = limits[queue]!
    if (typeof cap !== 'number' || Number.isNaN(cap) || cap < 0) {
      throw new TypeError(`Invalid limit ${String(cap)} for queue "${queue}": use a whole number ≥ 0`)
    }
    if (cap === Number.POSITIVE_INFINITY) continue
    if (params.queues !== undefined && !params.queues.includes(queue)) continue
    caps ??= new Map()
    caps.set(queue, Math.floor(cap))
  }
  return caps
}
