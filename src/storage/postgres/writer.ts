/**
 * The group-commit writer: fenced checkpoints, parks and releases go through one queue.
 *
 * The engine issues a run's checkpoints without awaiting the previous one. Each call enqueues a
 * job; one drain loop, on one connection the writer keeps while writes keep coming, sends
 * everything that queued up while the previous statement was in flight as ONE `applyWrites`
 * statement (one round trip, one commit, one WAL flush), then the next batch, until the queue is
 * empty (classic group commit). A run's jobs are
 * applied in call order: they leave the queue front to back and a run gets at most one segment
 * per statement (see write-batch.ts). Each promise settles after the statement that carried it
 * returned, i.e. after COMMIT (autocommit). A fenced write that matched zero rows rejects only its
 * own promise with `LeaseLostError`.
 *
 * A failed statement (connection terminated, server error) rejects the jobs it carried with a
 * `StorageError` and destroys the connection; the loop goes on with a new one, so a failure never
 * wedges the writer. Failed jobs are not retried: whether a statement whose connection died was
 * committed is unknown, and a blind retry could append a checkpoint twice.
 */
import { LeaseLostError, StorageError } from '../../errors.js'
import type { ParkResult, SignalRecord } from '../contract.js'
import { executeSql, type HeldClient, holdClient, type PoolLike } from './driver.js'
import { hasNul } from './rows.js'
import type { Statements } from './sql.js'
import {
  type BatchLimits,
  batchParams,
  isSingle,
  leanWrite,
  nulField,
  type Segment,
  singleParams,
  takeBatch,
  type WriteJob,
} from './write-batch.js'

/**
 * The writer lets go of its connection after this long without writes, as pg-pool does with idle
 * clients, so a process that forgets `close()` can still exit.
 */
const IDLE_MS = 10_000

/**
 * After this long without a drain, the next one first lets the event loop read the connection's
 * socket, so a backend terminated while idle is noticed before a batch is sent on it.
 */
const IDLE_CHECK_MS = 10

const nextCheckPhase = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Connections tried for a new writer session before the queued writes fail. */
const SETUP_ATTEMPTS = 3

/** How many times a park that lost a race with a concurrent write is retried. */
const PARK_ATTEMPTS = 50

/** Counters, for tests and benchmarks. */
export interface WriterStats {
  /** `applyWrites` statements sent. */
  statements: number
  /** Jobs carried by them. */
  jobs: number
  /** Statements that were one of the lean single-run ones (`applyStep`, `applyRelease`). */
  lean: number
  /** `createRuns` statements sent. */
  createStatements: number
  /** Runs created or found existing by them. */
  creates: number
}

/** A queued create: the run row's values in column order (`runParams`). */
interface CreateJob {
  row: unknown[]
  sync: boolean
  settle: { resolve(created: boolean): void; reject(e: unknown): void }
}

/** The group-commit queue of one storage. */
export class GroupCommitWriter {
  readonly #pool: PoolLike
  readonly #sql: Statements
  readonly #channel: string
  readonly #limits: BatchLimits
  readonly #queue: WriteJob[] = []
  readonly #creates: CreateJob[] = []
  #draining: Promise<void> | undefined
  /** When the last drain ended (performance.now()). */
  #idleSince = 0
  /** The connection every statement of this writer goes through; dropped after IDLE_MS unused. */
  #held: HeldClient | undefined
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  #closed = false
  readonly stats: WriterStats = { statements: 0, jobs: 0, lean: 0, createStatements: 0, creates: 0 }

  constructor(pool: PoolLike, sql: Statements, channel: string, limits: BatchLimits) {
    this.#pool = pool
    this.#sql = sql
    this.#channel = channel
    this.#limits = limits
  }

  /** Queues a write; the promise settles once it is committed (or refused). */
  enqueue<T>(make: (settle: { resolve(v: T): void; reject(e: unknown): void }) => WriteJob): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job = make({ resolve, reject })
      if (this.#closed) {
        reject(new StorageError('PostgresStorage is closed'))
        return
      }
      if (hasNul(job.params.id) || hasNul(job.params.token)) {
        // No stored run or lease can hold U+0000: the lease is not held, as for an unknown run.
        if (job.kind === 'release') job.settle.resolve()
        else job.settle.reject(new LeaseLostError(job.params.id))
        return
      }
      const field = nulField(job)
      if (field !== undefined) {
        reject(
          new StorageError(
            `PostgresStorage cannot store ${field} of ${job.params.id}: it contains a NUL character`,
          ),
        )
        return
      }
      this.#queue.push(job)
      this.#wake()
    })
  }

  /**
   * Queues the creation of a run (`row`: its values in column order, checked for NUL by the
   * caller). Resolves true when this call inserted it, false when a run with that id existed.
   * Creates that queue up together go out as one `createRuns` statement, before the batch of
   * writes queued with them: no run's write can be queued before its own create has resolved.
   */
  create(row: unknown[], sync: boolean): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (this.#closed) {
        reject(new StorageError('PostgresStorage is closed'))
        return
      }
      this.#creates.push({ row, sync, settle: { resolve, reject } })
      this.#wake()
    })
  }

  /** Starts a drain on a microtask: calls issued in the same tick then share the first statement. */
  #wake(): void {
    if (!this.#draining) this.#draining = Promise.resolve().then(() => this.#drain())
  }

  /** Resolves once every queued write has settled. */
  async idle(): Promise<void> {
    for (let draining = this.#draining; draining !== undefined; draining = this.#draining) await draining
  }

  /**
   * Settles what is queued, then ends the writer's connection. It is destroyed, not returned to
   * the pool: its session settings (see `writerSession`) must not reach other users of the pool.
   */
  async close(): Promise<void> {
    this.#closed = true
    await this.idle()
    this.#dropConnection()
  }

  #dropConnection(): void {
    clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
    this.#held?.release(true)
    this.#held = undefined
  }

  /** The writer's connection, opened (or replaced after a failure) on demand. */
  async #connection(): Promise<HeldClient> {
    if (this.#held?.failure) {
      // It died while idle (terminated backend, network): replace it before it fails a batch.
      this.#held.release()
      this.#held = undefined
    }
    if (this.#held) return this.#held
    // Nothing of the batch has been sent while the session is set up, so a connection that dies
    // here (an idle pooled client whose backend was just terminated, the pool not told yet) is
    // simply replaced: a few tries before the queued writes fail.
    for (let attempt = 1; ; attempt++) {
      const held = await holdClient(this.#pool, 'checkpoint')
      try {
        await executeSql(held.client, this.#sql.writerSession, [], 'checkpoint (session setup)')
        this.#held = held
        return held
      } catch (error) {
        held.release(error)
        if (attempt >= SETUP_ATTEMPTS) throw error
      }
    }
  }

  async #drain(): Promise<void> {
    clearTimeout(this.#idleTimer)
    try {
      if (this.#held && performance.now() - this.#idleSince >= IDLE_CHECK_MS) {
        // A drain starts on a microtask of whatever callback issued the write (a timer, a socket
        // read), before the event loop next reads its sockets. A connection whose backend was
        // terminated while the process was busy has its FATAL in the socket, unread, and would
        // get the batch first and fail it. Two check phases have a poll phase between them: by
        // then that FATAL is read and the connection is replaced before anything is sent.
        await nextCheckPhase()
        await nextCheckPhase()
      }
      while (this.#queue.length > 0 || this.#creates.length > 0) {
        let held: HeldClient
        try {
          held = await this.#connection()
        } catch (error) {
          // No connection at all: fail what is queued rather than spin.
          for (const job of this.#queue.splice(0)) job.settle.reject(error)
          for (const job of this.#creates.splice(0)) job.settle.reject(error)
          break
        }
        if (this.#creates.length > 0) {
          const creates = this.#creates.splice(0, this.#limits.maxJobs)
          try {
            await this.#flushCreates(held, creates)
          } catch (error) {
            held.release(error)
            if (this.#held === held) this.#held = undefined
            for (const job of creates) job.settle.reject(error)
          }
          continue
        }
        const segments = takeBatch(this.#queue, this.#limits)
        try {
          await this.#flush(held, segments)
        } catch (error) {
          held.release(error)
          if (this.#held === held) this.#held = undefined
          // Settling is idempotent: jobs already settled before the failure keep their outcome.
          for (const segment of segments) for (const job of segment.jobs) job.settle.reject(error)
        }
      }
    } finally {
      this.#draining = undefined
      this.#idleSince = performance.now()
      // A job enqueued while the finally block ran found #draining set and did not start a drain.
      if (this.#queue.length > 0 || this.#creates.length > 0) this.#wake()
      else if (this.#held && !this.#closed) {
        this.#idleTimer = setTimeout(() => {
          if (!this.#draining) this.#dropConnection()
        }, IDLE_MS)
        this.#idleTimer.unref?.()
      }
    }
  }

  async #flushCreates(held: HeldClient, creates: CreateJob[]): Promise<void> {
    this.stats.createStatements++
    this.stats.creates += creates.length
    // A lone create (a run started by itself) takes a scalar statement; one that is not `pending`
    // (execute, start: created leased by the caller) has nothing to announce.
    const lone = creates.length === 1 ? creates[0]!.row : undefined
    const [text, values] = lone
      ? [lone[5] === 'pending' ? this.#sql.createOne : this.#sql.createOneQuiet, lone]
      : [this.#sql.createRuns, creates[0]!.row.map((_, i) => creates.map((c) => c.row[i]))]
    const { rows } = await executeSql(
      held.client,
      text,
      [...values, creates.every((c) => !c.sync), this.#channel],
      'createRun',
      true,
    )
    const inserted = new Set(rows.map((r: { id: string }) => r.id))
    // Two creates of one id in one statement: the first row was inserted, the second found it.
    for (const job of creates) {
      const id = job.row[0] as string
      job.settle.resolve(inserted.delete(id))
    }
  }

  async #flush(held: HeldClient, segments: Segment[]): Promise<void> {
    this.stats.statements++
    this.stats.jobs += segments.reduce((n, s) => n + s.jobs.length, 0)
    // A lone segment (a run executing by itself) takes the leanest statement that fits it.
    const lean = leanWrite(segments)
    if (lean) this.stats.lean++
    const { rows } = lean
      ? await executeSql(
          held.client,
          this.#sql[lean.statement],
          lean.statement === 'applyRelease' ? [...lean.params, this.#channel] : lean.params,
          'checkpoint',
          true,
        )
      : isSingle(segments)
        ? await executeSql(
            held.client,
            this.#sql.applyOne,
            [...singleParams(segments[0]!), this.#channel],
            'checkpoint',
            true,
          )
        : await executeSql(
            held.client,
            this.#sql.applyWrites,
            [...batchParams(segments), this.#channel],
            'checkpoint',
            true,
          )
    const matched = new Set(rows.map((r: { id: string }) => r.id))
    const retry: WriteJob[] = []
    for (const segment of segments) {
      if (matched.has(segment.id)) {
        for (const job of segment.jobs) {
          if (job.kind === 'park') job.settle.resolve({ parked: true })
          else job.settle.resolve()
        }
        continue
      }
      for (const job of segment.jobs) {
        if (job.kind === 'release') job.settle.resolve()
        else if (job.kind === 'checkpoint' || segment.unlessSignal === null)
          job.settle.reject(new LeaseLostError(segment.id))
        else if (await this.#settlePark(held, job, segment.unlessSignal)) retry.push(job)
      }
    }
    // A park that lost a race goes back to the front: it still precedes the run's later jobs.
    this.#queue.unshift(...retry)
  }

  /** Settles a park that matched zero rows; returns true when it should be retried. */
  async #settlePark(held: HeldClient, job: WriteJob & { kind: 'park' }, signal: string): Promise<boolean> {
    const { id, token } = job.params
    const { rows } = await executeSql(held.client, this.#sql.parkProbe, [id, token, signal], 'park', true)
    const probe = rows[0] as { held: boolean | null; signal: SignalRecord | null } | undefined
    if (!probe?.held) {
      job.settle.reject(new LeaseLostError(id))
      return false
    }
    if (probe.signal) {
      const { name, payload, at } = probe.signal
      job.settle.resolve({ parked: false, signal: { name, payload, at } } satisfies ParkResult)
      return false
    }
    job.attempts = (job.attempts ?? 0) + 1
    if (job.attempts < PARK_ATTEMPTS) return true
    job.settle.reject(new StorageError(`PostgresStorage park of ${id} kept racing concurrent writes`))
    return false
  }
}
