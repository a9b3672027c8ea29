/**
 * `claimDue` on SQLite, with and without queue limits.
 *
 * Everything happens inside one `BEGIN IMMEDIATE`: SQLite's write lock is taken before the first
 * read, so another process's claim waits for our COMMIT and then sees our leases. That is what
 * makes the count of live leases and the claims that follow it atomic across processes — the
 * last slot of a queue cannot be taken twice.
 */
import { StorageError } from '../../errors.js'
import { type ClaimDueParams, type ClaimKind, queueLimitsOf, type RunSnapshot } from '../contract.js'
import type { SqliteConnection, SqlValue } from './driver.js'
import { type StoreSql, TX } from './sql.js'
import { readSnapshot, transaction } from './verbs.js'

/**
 * When a capped claim finds more queues than this holding pending runs, it reads the uncapped
 * queues' pending runs in one pass that skips the capped ones (a scan past their backlog)
 * instead of one index seek per queue.
 */
const MAX_QUEUE_SEEKS = 32

/** A due run as the capped claim's queries return it: enough to merge them in claim order. */
interface Candidate {
  id: string
  queue: string
  priority: number
  due: number
  arrival: number
}

type Filter = Record<string, SqlValue>

/** Takes the leases of due runs in claim order; see `FluxStore.claimDue`. */
export function claimDue(conn: SqliteConnection, sql: StoreSql, params: ClaimDueParams): RunSnapshot[] {
  const { lease, now, definitionKeys, queues, limit, kinds } = params
  const max = Number.isFinite(limit) ? Math.max(0, Math.trunc(limit)) : -1
  if (max === 0 || definitionKeys.length === 0 || kinds?.length === 0) return []
  const caps = queueLimitsOf(params)
  const wanted = (kind: ClaimKind): number => (kinds === undefined || kinds.includes(kind) ? 1 : 0)
  const filter: Filter = {
    keys: JSON.stringify(definitionKeys),
    queues: queues ? JSON.stringify(queues) : null,
    owner: lease.owner,
    token: lease.token,
    now,
    pending: wanted('pending'),
    orphaned: wanted('orphaned'),
    timer: wanted('timer'),
    signal: wanted('signal'),
  }
  return transaction(conn, TX.beginImmediate, () => {
    const ids =
      caps === null
        ? conn.all<{ id: string }>(sql.selectDue, { ...filter, limit: max }).map((row) => row.id)
        : cappedClaim(conn, sql, filter, caps, max, queues)
    const claimed: RunSnapshot[] = []
    for (const id of ids) {
      const snapshot = takeLease(conn, sql, id, params)
      if (snapshot) claimed.push(snapshot)
    }
    return claimed
  })
}

/**
 * The ids a claim with caps takes, in claim order. A walk in claim order that skips each queue
 * once it is full takes exactly: each capped queue's first `free` due runs (its cap less the
 * live leases counted now), plus every due run of the other queues, cut at `max`. So the
 * candidates are read that way — the capped queues one by one up to their allowance (a full
 * queue is not read at all), the others apart — merged, and cut. No page of a full queue's
 * backlog is ever read and thrown away, so however long it is, the other queues are served.
 */
function cappedClaim(
  conn: SqliteConnection,
  sql: StoreSql,
  filter: Filter,
  caps: ReadonlyMap<string, number>,
  max: number,
  queues: readonly string[] | undefined,
): string[] {
  const free = new Map(caps)
  const counts = conn.all<{ queue: string; n: unknown }>(sql.countLeased, {
    queues: JSON.stringify([...caps.keys()]),
    now: filter.now!,
  })
  for (const { queue, n } of counts) free.set(queue, (free.get(queue) ?? 0) - Number(n))
  const found: Candidate[] = []
  for (const [queue, left] of free) {
    if (left <= 0) continue
    const cut = max === -1 ? left : Math.min(left, max)
    found.push(...conn.all<Candidate>(sql.selectDueOfQueue, { ...filter, queue, limit: cut }))
  }
  // The uncapped queues' pending runs (the backlog that can be long) queue by queue when there
  // are few queues; their other due runs (orphans, timers, signals: few) in one pass that
  // leaves the capped queues out.
  let pending = filter.pending!
  const others = pending ? uncappedQueues(conn, sql, free, queues) : null
  if (others !== null) {
    const onlyPending = { orphaned: 0, timer: 0, signal: 0 }
    for (const queue of others)
      found.push(
        ...conn.all<Candidate>(sql.selectDueOfQueue, { ...filter, ...onlyPending, queue, limit: max }),
      )
    pending = 0
  }
  const except = JSON.stringify([...free.keys()])
  found.push(...conn.all<Candidate>(sql.selectDueExcept, { ...filter, pending, except, limit: max }))
  found.sort(byClaimOrder)
  return (max === -1 ? found : found.slice(0, max)).map((c) => c.id)
}

/**
 * The uncapped queues that may hold pending runs for this claim: those it names, or those
 * found in the pending index. Null when there are more than {@link MAX_QUEUE_SEEKS}.
 */
function uncappedQueues(
  conn: SqliteConnection,
  sql: StoreSql,
  capped: ReadonlyMap<string, number>,
  queues: readonly string[] | undefined,
): string[] | null {
  // Capped queues count against the bound: a list cut at it would hide the queues after it.
  const names =
    queues ??
    conn
      .all<{ name: string }>(sql.pendingQueues, { limit: MAX_QUEUE_SEEKS + capped.size + 1 })
      .map((row) => row.name)
  const others = names.filter((queue) => !capped.has(queue))
  return others.length > MAX_QUEUE_SEEKS ? null : others
}

/** Claim order: priority, then due time, then arrival (as the SQL orders each query). */
function byClaimOrder(a: Candidate, b: Candidate): number {
  return (
    Number(b.priority) - Number(a.priority) ||
    Number(a.due) - Number(b.due) ||
    Number(a.arrival) - Number(b.arrival)
  )
}

/** Takes the lease of a due run inside the claim transaction; null for a row damaged on disk. */
function takeLease(
  conn: SqliteConnection,
  sql: StoreSql,
  id: string,
  { lease, now }: ClaimDueParams,
): RunSnapshot | null {
  let snapshot: RunSnapshot | null
  try {
    snapshot = readSnapshot(conn, sql, id)
  } catch (error) {
    // A row damaged on disk must not poison every claim: leave it unleased (get/list still
    // report it, naming the run) and hand out the others.
    if (error instanceof StorageError) return null
    throw error
  }
  if (!snapshot) return null
  conn.run(sql.takeLease, { id, owner: lease.owner, token: lease.token, expiresAt: lease.expiresAt, now })
  // What takeLease wrote, without reading the row again.
  Object.assign(snapshot.run, {
    leaseOwner: lease.owner,
    leaseToken: lease.token,
    leaseExpiresAt: lease.expiresAt,
    updatedAt: now,
    revision: snapshot.run.revision + 1,
  })
  return snapshot
}
