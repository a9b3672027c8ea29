/**
 * The engine's configuration and the options of `execute`, `start` and `enqueue` (types only;
 * re-exported by engine.ts).
 */
import type { Clock } from '../clock.js'
import type { Serializer } from '../codec/codec.js'
import type { FluxStore } from '../storage/contract.js'
import type { FluxTraceSink } from '../trace/events.js'
import type { BackoffOptions, FluxHooks, FluxLogger, WorkflowStorage } from '../types.js'
import type { FlowLike } from '../workflow/definition.js'

/** Engine configuration: the origin's options plus fluxflow's. */
export interface FluxEngineConfig {
  /** A durable store (MemoryStorage, SqliteStorage, PostgresStorage) or an origin-style `save/load` storage. */
  storage?: WorkflowStorage | FluxStore
  logger?: FluxLogger
  trace?: FluxTraceSink
  /** Retries after the first attempt, for steps that set none. Default 3. */
  defaultRetries?: number
  /** Milliseconds per attempt, for steps that set none. Default 30 000. */
  defaultTimeout?: number
  /** Backoff for steps that set none. Default 1 s doubling to 30 s, full jitter. */
  defaultBackoff?: BackoffOptions
  on?: FluxHooks
  /** Definitions this engine may run without being handed them (recovery, workers, timers). */
  workflows?: readonly FlowLike[]
  serializer?: Serializer
  /** How long a run's lease lasts without renewal. Default 30 000 ms. */
  leaseMs?: number
  /** Stable id of this process; reuse it across restarts to take over its runs at once. */
  workerId?: string
  clock?: Clock
  /** Continue runs whose lease expired when the engine initialises. Default true. */
  recoverOnInit?: boolean
  /** Polling interval of workers and of waits on runs driven elsewhere. Default 1 000 ms. */
  pollInterval?: number
  /**
   * Cluster-wide caps per queue for every worker of this engine and for `recover()`; a
   * worker's own `queueConcurrency` overrides them queue by queue. See
   * {@link WorkerOptions.queueConcurrency}: every process must be configured with the same caps.
   */
  queueConcurrency?: Readonly<Record<string, number>>
  /** Random source for jitter (tests pin it). */
  random?: () => number
  /** The origin's flag; fluxflow runs steps in order and ignores it. */
  parallel?: boolean
}

/** The origin's name for the configuration. */
export type FluxConfig = FluxEngineConfig

/** Options of `execute` and `start`. */
export interface ExecuteOptions {
  /** Run id; a second call with the same id never starts a second run. */
  id?: string
  queue?: string
  priority?: number
}

/** Options of `enqueue`. */
export interface EnqueueOptions extends ExecuteOptions {
  /** Milliseconds before the run may start. */
  delay?: number
}
