/**
 * The HTTP status of each library error, shared by the Fetch handler (`createFetchHandler`) and
 * the viewer's API so the two answer alike. Keyed by `code`, so a plain `FluxError` raised with a
 * code (a corrupt row is `STORAGE`) maps like its class, and a new code must be placed here.
 */
import type { FluxError, FluxErrorCode } from '../errors.js'

const STATUS: Readonly<Record<FluxErrorCode, number>> = {
  // The request's data is wrong.
  INVALID_INPUT: 400,
  SERIALIZATION: 400,
  INVALID_STEP: 400,
  // No such run or workflow.
  WORKFLOW_NOT_FOUND: 404,
  // The run's state refuses the request (a plain FluxError is such a refusal: "held by a worker").
  FLUX_ERROR: 409,
  CANCELLED: 409,
  DEFINITION_CHANGED: 409,
  WORKFLOW_NOT_SUSPENDED: 409,
  SIGNAL_MISMATCH: 409,
  SIGNAL_CONFLICT: 409,
  INVALID_STATE_TRANSITION: 409,
  LEASE_LOST: 409,
  // Storage or engine unavailable: try again later.
  STORAGE: 503,
  ENGINE_CLOSED: 503,
  // A workflow's own failures and definitions never answer a request: a bug if they reach one.
  DEFINITION: 500,
  NON_RETRYABLE: 500,
  RETRYABLE: 500,
  STEP_TIMEOUT: 500,
  SIGNAL_TIMEOUT: 500,
}

/** The HTTP status for a FluxError raised while serving a request. */
export function httpStatusOfFluxError(error: FluxError): number {
  return STATUS[error.code] ?? 500
}
