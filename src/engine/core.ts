import type { Clock } from '../clock.js'
import type { Serializer } from '../codec/codec.js'
import type { FluxStore } from '../storage/contract.js'
import type { BackoffOptions, FluxLogger } from '../types.js'
import type { Emitter } from './emitter.js'

/** What the runner needs from its engine: the injected services and the resolved defaults. */
export interface EngineCore {
  readonly store: FluxStore
  readonly clock: Clock
  readonly serializer: Serializer
  readonly logger: FluxLogger
  readonly emitter: Emitter
  /** Stable id of this worker process. */
  readonly workerId: string
  /** Unique per engine instance: fences every write. */
  readonly token: string
  readonly leaseMs: number
  readonly defaultRetries: number
  readonly defaultTimeout: number
  readonly defaultBackoff: BackoffOptions
  readonly random: () => number
}
