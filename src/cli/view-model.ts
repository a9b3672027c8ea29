/**
 * The JSON shapes the viewer's API returns and the terminal prints. Both sources (live storage
 * and a trace file) produce them, so the page has one renderer. Times are epoch milliseconds;
 * every value from a run (input, data, outputs, payloads) is already rendered to text by
 * `pretty`, so the page never interprets run data, it only displays strings.
 */
import type { StepStatus, WorkflowStatus } from '../types.js'
import type { DataChange } from './pretty.js'

/** One row of the runs list. */
export interface RunSummaryView {
  id: string
  workflow: string
  version: string | null
  status: WorkflowStatus
  /** Name of the step the run is at (null when past the last one or unknown). */
  step: string | null
  stepIndex: number
  stepCount: number
  waitingFor: string | null
  wakeAt: number | null
  createdAt: number
  updatedAt: number
  completedAt: number | null
  /** Changes whenever the run is written: what live updates compare. */
  revision: number
  /** Message of the run's error, if any. */
  error: string | null
}

/** The filters of a list request, normalised. */
export interface ListQuery {
  workflow?: string
  statuses?: WorkflowStatus[]
  idPrefix?: string
  /** Created at or after (epoch ms). */
  from?: number
  /** Created before (epoch ms). */
  to?: number
  limit: number
  offset: number
}

/** A page of the runs list. */
export interface RunListView {
  runs: RunSummaryView[]
  total: number
  limit: number
  offset: number
}

/** One attempt of a step that failed (the successful last attempt is the step's own record). */
export interface AttemptView {
  attempt: number
  /** When the failure was recorded. */
  at: number
  error: string
  /** Retry backoff: the next attempt was due at this time. Null when this failure was final. */
  backoffUntil: number | null
}

/** A step of a run, with what the timeline draws. */
export interface StepView {
  index: number
  name: string
  kind: 'step' | 'commit'
  status: StepStatus
  attempts: number
  retries: number
  startedAt: number | null
  completedAt: number | null
  suspendedAt: number | null
  /** While `running`: a retry backoff wait until this time. While `suspended`: a sleep or a wait timeout. */
  wakeAt: number | null
  waitingFor: string | null
  duration: number | null
  error: string | null
  /** Rendered output (a wait step's signal payload); null when the step has none. */
  output: string | null
  failedAttempts: AttemptView[]
  /** When its compensation started and ended; null when it was never compensated. */
  compensation: { startedAt: number | null; compensatedAt: number | null; error: string | null } | null
  /** Data changes written by the checkpoints of this step, in order. */
  changes: { seq: number; at: number; changes: DataChange[] }[]
}

/** One checkpoint, as written: which step records it carried and how `ctx.data` changed. */
export interface CheckpointView {
  seq: number
  at: number
  steps: { index: number; name: string; status: StepStatus }[]
  /** The handler replaced `ctx.data` wholesale. */
  replaced: boolean
  changes: DataChange[]
}

/** A node of the workflow graph: the run's path is read from `state`. */
export interface GraphNodeView {
  index: number
  name: string
  kind: 'step' | 'commit'
  /** The step has a `when` condition (it may be skipped). */
  conditional: boolean
  /** The step has a compensation (undone if a later step fails). */
  compensable: boolean
  state:
    | 'completed'
    | 'current'
    | 'suspended'
    | 'skipped'
    | 'failed'
    | 'compensating'
    | 'compensated'
    | 'pending'
}

/** Everything the run page shows. */
export interface RunDetailView {
  source: 'db' | 'trace'
  run: RunSummaryView & {
    queue: string | null
    definitionKey: string | null
    leaseOwner: string | null
    leaseExpiresAt: number | null
    /** Names of the steps still to compensate (a `compensation_failed` run). */
    compensate: string[]
  }
  input: string
  /** `ctx.data` as of the last checkpoint. */
  data: string
  steps: StepView[]
  checkpoints: CheckpointView[]
  graph: GraphNodeView[]
  signals: {
    received: { name: string; step: string; at: number | null; payload: string }[]
    /** Stored in the mailbox, not yet consumed. */
    pending: { name: string; at: number; payload: string }[]
  }
  error: { name: string; message: string; stack: string | null; code: string | null } | null
  /** Bounds for the timeline: the run's creation and its last known time. */
  timeline: { start: number; end: number }
  /** Raw events (trace source only). */
  events?: { at: number; type: string; step: string | null; text: string }[]
}

/** What an action returned. */
export interface ActionResultView {
  ok: true
  message: string
  run: RunSummaryView | null
}
