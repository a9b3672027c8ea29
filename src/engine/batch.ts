import { toError } from '../errors.js'
import type { FluxResult } from '../types.js'

/** Options of `executeBatch`. */
export interface BatchOptions {
  /** Runs at once. Default 10. */
  concurrency?: number
  /** Keep starting runs after one fails. Default true. */
  continueOnError?: boolean
  onProgress?: (completed: number, total: number, item: BatchItemResult) => void
  /** Stops starting new runs; runs already started finish. */
  signal?: AbortSignal
}

/** One input's outcome. */
export interface BatchItemResult<TData = any> {
  index: number
  input: unknown
  /** Null if the run was never started or `execute` rejected. */
  result: FluxResult<TData> | null
  error?: Error
  success: boolean
}

/** All outcomes, in input order. */
export interface BatchResult<TData = any> {
  total: number
  succeeded: number
  failed: number
  results: BatchItemResult<TData>[]
  duration: number
}

/** Runs `execute` over `inputs` with at most `concurrency` in flight. */
export async function runBatch<TInput, TData>(
  execute: (input: TInput) => Promise<FluxResult<TData>>,
  inputs: readonly TInput[],
  options: BatchOptions,
): Promise<BatchResult<TData>> {
  const started = Date.now()
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 10))
  const continueOnError = options.continueOnError ?? true
  const results: BatchItemResult<TData>[] = new Array(inputs.length)
  let next = 0
  let completed = 0
  let succeeded = 0
  let stop = false

  const record = (item: BatchItemResult<TData>) => {
    results[item.index] = item
    completed++
    if (item.success) succeeded++
    else if (!continueOnError) stop = true
    options.onProgress?.(completed, inputs.length, item)
  }

  const lane = async () => {
    for (;;) {
      const index = next++
      if (index >= inputs.length) return
      const input = inputs[index] as TInput
      if (stop || options.signal?.aborted) {
        record({ index, input, result: null, error: new Error('Execution aborted'), success: false })
        continue
      }
      try {
        const result = await execute(input)
        const item: BatchItemResult<TData> = { index, input, result, success: result.status === 'completed' }
        if (result.error) item.error = result.error
        record(item)
      } catch (error) {
        record({ index, input, result: null, error: toError(error), success: false })
      }
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, inputs.length) }, lane))
  return {
    total: inputs.length,
    succeeded,
    failed: inputs.length - succeeded,
    results,
    duration: Date.now() - started,
  }
}
