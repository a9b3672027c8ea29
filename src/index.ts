/**
 * fluxflow — durable workflows for TypeScript.
 *
 * @example
 * ```ts
 * import { createWorkflow, FluxEngine, Flux } from 'fluxflow'
 *
 * const signup = createWorkflow('signup')
 *   .input<{ email: string }>()
 *   .step('create-user', async (ctx) => { ctx.data.userId = await users.create(ctx.input.email) })
 *   .step('approval', () => Flux.wait('approved'))
 *   .commit('welcome', async (ctx) => { await mail.send(ctx.input.email, { key: ctx.idempotencyKey }) })
 *
 * const engine = new FluxEngine()
 * const { id, status } = await engine.execute(signup, { email: 'a@b.c' }) // status: 'suspended'
 * await engine.signal(signup, id, 'approved')                              // → 'completed'
 * ```
 */

export { type Clock, type ClockTimer, systemClock } from './clock.js'
export {
  createSerializer,
  defaultSerializer,
  type Serializer,
  type SerializerOptions,
  type TypeCodec,
} from './codec/codec.js'
export type { BatchItemResult, BatchOptions, BatchResult } from './engine/batch.js'
export {
  type EnqueueOptions,
  type ExecuteOptions,
  type FluxConfig,
  FluxEngine,
  type FluxEngineConfig,
} from './engine/engine.js'
export type { ResumeOptions, SignalOptions } from './engine/operations.js'
export type { WorkerOptions, WorkflowWorker } from './engine/worker.js'
export {
  EngineClosedError,
  FluxDefinitionChangedError,
  FluxDefinitionError,
  FluxError,
  type FluxErrorCode,
  InvalidInputError,
  InvalidStateTransitionError,
  InvalidStepError,
  LeaseLostError,
  NonRetryableError,
  RetryableError,
  SerializationError,
  SignalConflictError,
  SignalMismatchError,
  SignalTimeoutError,
  StepTimeoutError,
  StorageError,
  WorkflowCancelledError,
  WorkflowNotFoundError,
  WorkflowNotSuspendedError,
} from './errors.js'
export {
  createFetchHandler,
  type FetchHandler,
  type FetchHandlerAuthorizeContext,
  type FetchHandlerOptions,
  type FetchHandlerRoute,
} from './http/fetch-handler.js'
export { type GravitoCoreLike, OrbitFlux, type OrbitFluxOptions } from './integrations/orbit-flux.js'
export { FluxConsoleLogger, FluxSilentLogger } from './logger.js'
export { StateMachine, TRANSITIONS } from './state-machine.js'
export type {
  CheckpointRecord,
  FluxStore,
  RunRecord,
  RunSnapshot,
  SignalRecord,
} from './storage/contract.js'
export { MemoryStorage } from './storage/memory/memory-storage.js'
export type { FluxTraceEvent, FluxTraceEventType, FluxTraceSink } from './trace/events.js'
export { JsonFileTraceSink, type JsonFileTraceSinkOptions } from './trace/json-file-sink.js'
export type {
  BackoffFunction,
  BackoffOptions,
  FluxHooks,
  FluxLogger,
  FluxResult,
  FluxSleepResult,
  FluxWaitResult,
  StandardSchemaV1,
  StepDefinition,
  StepDescriptor,
  StepExecution,
  StepHandlerResult,
  StepOptions,
  StepResult,
  StepStatus,
  WorkflowContext,
  WorkflowDefinition,
  WorkflowDescriptor,
  WorkflowFilter,
  WorkflowState,
  WorkflowStatus,
  WorkflowStorage,
} from './types.js'
export { type CommitOptions, createWorkflow, WorkflowBuilder } from './workflow/builder.js'
export { Flux } from './workflow/flux.js'
