import { FluxDefinitionError } from '../errors.js'
import type { StepOptions } from '../types.js'

function nonNegativeNumber(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
}

/** Checks a step's options; throws a {@link FluxDefinitionError} naming the step. */
export function validateStepOptions(
  where: string,
  name: string,
  options: StepOptions<any, any>,
  commit: boolean,
): void {
  const step = `${where}: step "${name}"`
  if (options === null || typeof options !== 'object') {
    throw new FluxDefinitionError(`${step}: options must be an object`)
  }
  if (
    options.retries !== undefined &&
    !(nonNegativeNumber(options.retries) && Number.isInteger(options.retries))
  ) {
    throw new FluxDefinitionError(
      `${step}: retries must be a non-negative integer (got ${String(options.retries)})`,
    )
  }
  if (options.timeout !== undefined && !(typeof options.timeout === 'number' && options.timeout > 0)) {
    throw new FluxDefinitionError(
      `${step}: timeout must be a positive number of milliseconds, or Infinity for none (got ${String(options.timeout)})`,
    )
  }
  for (const fn of ['when', 'compensate', 'retryIf'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') {
      throw new FluxDefinitionError(`${step}: ${fn} must be a function`)
    }
  }
  if (commit && options.compensate !== undefined) {
    throw new FluxDefinitionError(
      `${step}: a commit cannot have compensate; make it a step, or put the undo in an earlier step's compensate`,
    )
  }
  const backoff = options.backoff
  if (backoff !== undefined && typeof backoff !== 'function') {
    if (backoff === null || typeof backoff !== 'object') {
      throw new FluxDefinitionError(`${step}: backoff must be an object or a function`)
    }
    for (const key of ['initial', 'factor', 'max'] as const) {
      if (backoff[key] !== undefined && !nonNegativeNumber(backoff[key])) {
        throw new FluxDefinitionError(`${step}: backoff.${key} must be a non-negative number`)
      }
    }
  }
}
