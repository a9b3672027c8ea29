/**
 * fluxflow/testing: a fake clock, step mocks, and the storage conformance suite.
 */
import type { StepDefinition, WorkflowContext, WorkflowDefinition } from '../types.js'
import { type FlowLike, resolveDefinition } from '../workflow/definition.js'

export { type ConformanceOptions, runStoreConformance, sampleRun, type TestApi } from './conformance.js'
export { FakeClock, flush } from './fake-clock.js'

/**
 * The same workflow with some step handlers replaced. Names and kinds are unchanged, so runs
 * stored by the real definition continue with the mocked one (and the other way round).
 *
 * @example
 * ```ts
 * const flow = mockSteps(orderFlow, { charge: (ctx) => { ctx.data.chargeId = 'test' } })
 * ```
 */
export function mockSteps<TInput, TData>(
  flow: FlowLike<TInput, TData>,
  handlers: Record<string, (ctx: WorkflowContext<TInput, TData>) => unknown>,
): WorkflowDefinition<TInput, TData> {
  const { def } = resolveDefinition(flow)
  for (const name of Object.keys(handlers)) {
    if (!def.steps.some((s) => s.name === name))
      throw new Error(`mockSteps: workflow "${def.name}" has no step "${name}"`)
  }
  const steps = def.steps.map((step) => {
    const handler = handlers[step.name]
    return handler ? (Object.freeze({ ...step, handler }) as StepDefinition<TInput, TData>) : step
  })
  return Object.freeze({ ...def, steps: Object.freeze(steps) })
}
