/**
 * What an error means to a script (`flux` exit codes) and to the page (HTTP statuses). One
 * table, so the terminal and the viewer always agree on what "refused" or "not found" is.
 */
import {
  FluxError,
  InvalidStepError,
  SerializationError,
  StorageError,
  WorkflowNotFoundError,
} from '../errors.js'
import { httpStatusOfFluxError } from '../http/status.js'
import { BadRequestError } from './api.js'

/** Exit codes of `flux`. */
export const EXIT = Object.freeze({
  /** Done. */
  ok: 0,
  /** The store refused the operation (run not suspended, already ended, held by a worker…). */
  refused: 1,
  /** Wrong arguments or options; the message says which. */
  usage: 2,
  /** No run (or step) with that id (or name). */
  notFound: 3,
  /** The database cannot be opened or reached. */
  unreachable: 4,
})

/** An error with its exit code chosen where it was raised. */
export class CliError extends Error {
  override name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** A usage error (exit 2). */
export function usage(message: string): CliError {
  return new CliError(message, EXIT.usage)
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode
  if (error instanceof BadRequestError) return EXIT.usage
  if (error instanceof WorkflowNotFoundError) return EXIT.notFound
  if (error instanceof InvalidStepError)
    return error.message.startsWith('Step not found') ? EXIT.notFound : EXIT.usage
  if (error instanceof SerializationError) return EXIT.usage
  if (error instanceof StorageError) return EXIT.unreachable
  return EXIT.refused
}

/** The HTTP status for an error thrown by an API handler. */
export function httpStatusOf(error: unknown): number {
  if (error instanceof CliError) {
    if (error.exitCode === EXIT.usage) return 400
    if (error.exitCode === EXIT.notFound) return 404
    if (error.exitCode === EXIT.unreachable) return 503
    return 409
  }
  if (error instanceof BadRequestError) return 400
  if (error instanceof FluxError) return httpStatusOfFluxError(error)
  return 500
}

/** The message to show for an error, with its cause when that adds something. */
export function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = (error as { cause?: unknown }).cause
  if (cause instanceof Error && cause.message && !error.message.includes(cause.message))
    return `${error.message}: ${cause.message}`
  return error.message
}
