/**
 * How queued writes become one `applyWrites` statement. Pure: no I/O, no timers.
 *
 * Jobs are taken from the queue front to back. The writes of one run are folded into a
 * "segment" (one input row of the statement) as long as they share a token and none but the last
 * drops the lease; applying a segment at once is then the same as applying its writes one by one
 * (the fence is the same for all of them, and nothing else can write the run between them). A
 * statement cannot update a row twice, so a run gets at most one segment per statement: its later
 * jobs stay queued, in order, for the next flush. A park is always a segment of its own, because
 * "parked or not" decides whether anything is written.
 */
import type { CheckpointParams, ParkParams, ParkResult, ReleaseParams, RunPatch } from '../contract.js'

/** How a pending promise is settled. */
export interface Settle<T> {
  resolve(value: T): void
  reject(error: unknown): void
}

/** A queued write. */
export type WriteJob =
  | { kind: 'checkpoint'; params: CheckpointParams; settle: Settle<void> }
  | { kind: 'park'; params: ParkParams; settle: Settle<ParkResult>; attempts?: number }
  | { kind: 'release'; params: ReleaseParams; settle: Settle<void> }

/** Consecutive writes of one run with one token, applied as one row update. */
export interface Segment {
  id: string
  token: string
  jobs: WriteJob[]
  patch: RunPatch
  now: number
  bodies: { body: string; at: number }[]
  consumes: string[]
  release: boolean
  leaseExpiresAt: number | null
  unlessSignal: string | null
  /** Some write of the segment must be on disk before its promise settles (`sync` not false). */
  sync: boolean
}

/** Caps on one statement, so a burst never becomes one enormous query. */
export interface BatchLimits {
  maxJobs: number
  maxBodyChars: number
}

/**
 * Removes from `queue` the jobs the next statement carries and returns them as segments.
 * Jobs left in `queue` keep their order.
 */
export function takeBatch(queue: WriteJob[], limits: BatchLimits): Segment[] {
  const open = new Map<string, Segment>()
  const closed = new Set<string>()
  const segments: Segment[] = []
  const left: WriteJob[] = []
  let jobs = 0
  let chars = 0
  let full = false
  for (const job of queue) {
    const id = job.params.id
    if (full || closed.has(id)) {
      left.push(job)
      continue
    }
    const segment = open.get(id)
    if (segment) {
      if (job.kind === 'park' || job.params.token !== segment.token) {
        open.delete(id)
        closed.add(id)
        left.push(job)
        continue
      }
      add(segment, job)
    } else {
      const fresh = start(job)
      segments.push(fresh)
      open.set(id, fresh)
    }
    const current = open.get(id)!
    if (current.release || current.unlessSignal !== null || job.kind === 'park') {
      open.delete(id)
      closed.add(id)
    }
    jobs++
    if (job.kind !== 'release') chars += job.params.body?.length ?? 0
    full = jobs >= limits.maxJobs || chars >= limits.maxBodyChars
  }
  queue.splice(0, queue.length, ...left)
  return segments
}

function start(job: WriteJob): Segment {
  const segment: Segment = {
    id: job.params.id,
    token: job.params.token,
    jobs: [],
    patch: {},
    now: job.params.now,
    bodies: [],
    consumes: [],
    release: false,
    leaseExpiresAt: null,
    unlessSignal: job.kind === 'park' ? (job.params.unlessSignal ?? null) : null,
    sync: false,
  }
  add(segment, job)
  return segment
}

function add(segment: Segment, job: WriteJob): void {
  segment.jobs.push(job)
  segment.now = job.params.now
  // A release has no `sync` flag: it is durable bookkeeping, like every write by default.
  if (job.kind === 'release' || job.params.sync !== false) segment.sync = true
  if (job.kind === 'release') {
    segment.release = true
    segment.leaseExpiresAt = null
    return
  }
  const params = job.params
  Object.assign(segment.patch, params.patch)
  if (params.body !== undefined) segment.bodies.push({ body: params.body, at: params.now })
  if (params.consumeSignal !== undefined) segment.consumes.push(params.consumeSignal)
  if (params.release) {
    segment.release = true
    segment.leaseExpiresAt = null
  } else if (params.leaseExpiresAt !== undefined) {
    segment.leaseExpiresAt = params.leaseExpiresAt
  }
}

/**
 * The field of a write that holds a NUL character, if any. Postgres `text` cannot store one (the
 * codec never produces one: JSON escapes it as the six characters `\u0000`), and a statement that
 * tried would fail every write batched with it, so such a write is refused before it is queued.
 * (An id or token with one cannot match any lease: the writer treats that as a lost lease.)
 */
export function nulField(job: WriteJob): string | undefined {
  if (job.kind === 'release') return undefined
  const p = job.params
  if (p.body?.includes('\0')) return 'body'
  if (p.consumeSignal?.includes('\0')) return 'consumeSignal'
  if (job.kind === 'park' && job.params.unlessSignal?.includes('\0')) return 'unlessSignal'
  for (const [key, value] of Object.entries(p.patch))
    if (typeof value === 'string' && value.includes('\0')) return `patch.${key}`
  return undefined
}

/**
 * Parameters of `applyWrites` for these segments ($1..$15, then $16 whether the statement may
 * commit without waiting for the WAL flush; the caller appends the channel as $17).
 */
export function batchParams(segments: readonly Segment[]): unknown[] {
  const bodyRuns: string[] = []
  const bodyOrd: number[] = []
  const bodyAt: number[] = []
  const bodyText: string[] = []
  const consumeRuns: string[] = []
  const consumeNames: string[] = []
  for (const s of segments) {
    s.bodies.forEach((b, i) => {
      bodyRuns.push(s.id)
      bodyOrd.push(i + 1)
      bodyAt.push(b.at)
      bodyText.push(b.body)
    })
    for (const name of s.consumes) {
      consumeRuns.push(s.id)
      consumeNames.push(name)
    }
  }
  return [
    segments.map((s) => s.id),
    segments.map((s) => s.token),
    segments.map((s) => JSON.stringify(s.patch)),
    segments.map((s) => s.now),
    segments.map((s) => s.jobs.length),
    segments.map((s) => s.bodies.length),
    segments.map((s) => s.release),
    segments.map((s) => s.leaseExpiresAt),
    segments.map((s) => s.unlessSignal),
    bodyRuns,
    bodyOrd,
    bodyAt,
    bodyText,
    consumeRuns,
    consumeNames,
    segments.every((s) => !s.sync),
  ]
}

const PATCH_BITS: [keyof RunPatch, number][] = [
  ['status', 1],
  ['cursor', 2],
  ['waitingFor', 4],
  ['wakeAt', 8],
  ['error', 16],
  ['meta', 32],
  ['completedAt', 64],
]

/** A single-run batch that one of the lean statements carries (apply-sql.ts). */
export interface LeanWrite {
  statement: 'applyStep' | 'applyRelease'
  /** Every parameter but the channel, which `applyRelease` takes last. */
  params: unknown[]
}

/**
 * The lean statement for this batch, if one fits: one segment, not a park, no consumed signal,
 * the five row fields the engine always sends, and one body (`applyStep`) or a release with at
 * most one body (`applyRelease`). Anything else goes through `applyOne` / `applyWrites`.
 */
export function leanWrite(segments: readonly Segment[]): LeanWrite | undefined {
  if (segments.length !== 1) return undefined
  const s = segments[0]!
  const p = s.patch
  if (s.unlessSignal !== null || s.consumes.length > 0 || p.status === undefined || p.cursor === undefined)
    return undefined
  if (!('waitingFor' in p && 'wakeAt' in p && 'error' in p)) return undefined
  const body = s.bodies[0]
  const row = [
    s.id,
    s.token,
    p.status,
    p.cursor,
    p.waitingFor ?? null,
    p.wakeAt ?? null,
    p.error ?? null,
    p.meta ?? null,
  ]
  if (s.release) {
    if (!('completedAt' in p) || s.bodies.length > 1) return undefined
    return {
      statement: 'applyRelease',
      params: [
        ...row,
        p.completedAt ?? null,
        s.now,
        s.jobs.length,
        body?.body ?? null,
        body?.at ?? null,
        !s.sync,
      ],
    }
  }
  if (body === undefined || s.bodies.length > 1) return undefined
  return {
    statement: 'applyStep',
    params: [...row, s.leaseExpiresAt, s.now, s.jobs.length, body.body, body.at, !s.sync],
  }
}

/** True when `applyOne` can carry this batch: one segment, not a park. */
export function isSingle(segments: readonly Segment[]): boolean {
  return segments.length === 1 && segments[0]!.unlessSignal === null
}

/** Parameters of `applyOne` for a single segment ($1..$19; the caller appends the channel). */
export function singleParams(segment: Segment): unknown[] {
  const p = segment.patch
  let mask = 0
  for (const [key, bit] of PATCH_BITS) if (key in p) mask |= bit
  return [
    segment.id,
    segment.token,
    mask,
    p.status ?? null,
    p.cursor ?? null,
    p.waitingFor ?? null,
    p.wakeAt ?? null,
    p.error ?? null,
    p.meta ?? null,
    p.completedAt ?? null,
    segment.bodies.length,
    segment.release,
    segment.leaseExpiresAt,
    segment.now,
    segment.jobs.length,
    segment.bodies.map((b) => b.at),
    segment.bodies.map((b) => b.body),
    segment.consumes,
    !segment.sync,
  ]
}
