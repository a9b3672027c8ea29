import type { StepStatus, WorkflowStatus } from '../types.js'

/** Every trace event type: the origin's, plus fluxflow's lifecycle additions. */
export type FluxTraceEventType =
  | 'workflow:start'
  | 'workflow:complete'
  | 'workflow:error'
  | 'workflow:rollback_start'
  | 'workflow:rollback_complete'
  | 'workflow:suspend'
  | 'workflow:resume'
  | 'workflow:cancel'
  | 'workflow:recover'
  | 'step:start'
  | 'step:complete'
  | 'step:error'
  | 'step:skipped'
  | 'step:retry'
  | 'step:suspend'
  | 'step:compensate'
  | 'step:timeout'
  | 'signal:received'

/** One trace event. `stepName`/`stepIndex`/`attempt` are set on step events. */
export interface FluxTraceEvent {
  type: FluxTraceEventType
  /** Epoch milliseconds, from the engine's clock. */
  timestamp: number
  workflowId: string
  workflowName: string
  stepName?: string
  stepIndex?: number
  /** 1-based attempt of the step. */
  attempt?: number
  commit?: boolean
  /** Retries made so far (attempt − 1), as the origin. */
  retries?: number
  maxRetries?: number
  duration?: number
  error?: string
  status?: WorkflowStatus | StepStatus
  input?: unknown
  data?: Record<string, unknown>
  meta?: Record<string, unknown>
}

/** Destination of trace events. A sink that throws is logged, never fatal. */
export interface FluxTraceSink {
  emit(event: FluxTraceEvent): void | Promise<void>
}
