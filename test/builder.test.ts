import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  createWorkflow,
  FluxDefinitionError,
  FluxEngine,
  WorkflowBuilder,
  type WorkflowContext,
} from '../src/index.js'

describe('builder', () => {
  it('builds an immutable definition and a serializable descriptor', () => {
    const builder = createWorkflow('order')
      .version('2')
      .step('a', () => {}, { retries: 2, timeout: 500 })
      .step('b', () => {}, { when: () => true, compensate: () => {} })
      .commit('c', () => {})
    expect(builder).toBeInstanceOf(WorkflowBuilder)
    expect(builder.name).toBe('order')
    expect(builder.stepCount).toBe(3)
    const def = builder.build()
    expect(def.name).toBe('order')
    expect(def.version).toBe('2')
    expect(def.steps.map((s) => [s.name, s.commit])).toEqual([
      ['a', false],
      ['b', false],
      ['c', true],
    ])
    expect(Object.isFrozen(def)).toBe(true)
    expect(Object.isFrozen(def.steps)).toBe(true)
    expect(() => (def.steps as unknown[]).push({})).toThrow()
    expect(builder.describe()).toEqual({
      name: 'order',
      version: '2',
      steps: [
        { name: 'a', commit: false, retries: 2, timeout: 500, hasCondition: false, hasCompensation: false },
        { name: 'b', commit: false, hasCondition: true, hasCompensation: true },
        { name: 'c', commit: true, hasCondition: false, hasCompensation: false },
      ],
    })
    expect(JSON.parse(JSON.stringify(builder.describe()))).toEqual(builder.describe())
  })

  it('throws clear definition errors from the call that causes them', () => {
    const b = createWorkflow('w').step('a', () => {})
    expect(() => b.step('a', () => {})).toThrow(/duplicate step name "a"/)
    expect(() => b.step('', () => {})).toThrow(/non-empty/)
    expect(() => b.step('  ', () => {})).toThrow(FluxDefinitionError)
    expect(() => b.step('x', () => {}, { retries: -1 })).toThrow(
      /step "x": retries must be a non-negative integer/,
    )
    expect(() => b.step('x', () => {}, { retries: 1.5 })).toThrow(/retries/)
    expect(() => b.step('x', () => {}, { timeout: -5 })).toThrow(
      /step "x": timeout must be a positive number/,
    )
    expect(() => b.step('x', () => {}, { timeout: Number.NaN })).toThrow(/timeout/)
    expect(() => b.commit('x', () => {}, { compensate: () => {} } as never)).toThrow(
      /step "x": a commit cannot have compensate/,
    )
    expect(() => b.step('x', 'nope' as never)).toThrow(/handler function/)
    expect(() => b.step('x', () => {}, { when: 1 as never })).toThrow(/when must be a function/)
    expect(() => b.step('x', () => {}, { backoff: { initial: -1 } })).toThrow(/backoff.initial/)
    expect(() => createWorkflow('')).toThrow(/non-empty/)
    expect(() => createWorkflow('w').version('')).toThrow(/version/)
    // A failed call leaves the builder unchanged.
    expect(b.stepCount).toBe(1)
  })

  it('refuses to build (and so to execute) a workflow with no steps', async () => {
    expect(() => createWorkflow('empty').build()).toThrow(/"empty" has no steps/)
    const engine = new FluxEngine()
    await expect(engine.execute(createWorkflow('empty'), {})).rejects.toThrow(/has no steps/)
    await engine.close()
  })

  it('checks a plain definition object the same way', async () => {
    const engine = new FluxEngine()
    const plain = {
      name: 'plain',
      steps: [{ name: 'a', commit: false, handler: (ctx: WorkflowContext) => void (ctx.data.ok = true) }],
    }
    expect((await engine.execute(plain, {})).data).toEqual({ ok: true })
    await expect(
      engine.execute({ name: 'bad', steps: [{ name: 'a', handler: 1 }] } as never, {}),
    ).rejects.toThrow(/handler function/)
    await expect(
      engine.execute(
        {
          name: 'dup',
          steps: [
            { name: 'a', commit: false, handler() {} },
            { name: 'a', commit: false, handler() {} },
          ],
        },
        {},
      ),
    ).rejects.toThrow(/duplicate step name "a"/)
    await engine.close()
  })

  it('types ctx.input from .input<T>() and ctx.data from .data<T>()', () => {
    createWorkflow('typed')
      .input<{ orderId: string; qty: number }>()
      .data<{ total?: number; tags: string[] }>()
      .step('price', (ctx) => {
        expectTypeOf(ctx.input).toEqualTypeOf<{ orderId: string; qty: number }>()
        expectTypeOf(ctx.data).toEqualTypeOf<{ total?: number; tags: string[] }>()
        expectTypeOf(ctx.attempt).toEqualTypeOf<number>()
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>()
        expectTypeOf(ctx.idempotencyKey).toEqualTypeOf<string>()
      })
      .commit('save', (ctx) => {
        expectTypeOf(ctx.input.orderId).toEqualTypeOf<string>()
      })
    // The input argument does not widen the flow's declared input type.
    const typedEngine = new FluxEngine()
    const plan = createWorkflow('plan')
      .input<{ plan: 'free' | 'pro' }>()
      .step('x', () => {})
    const call = () => typedEngine.execute(plan, { plan: 'pro' })
    expectTypeOf(call).returns.resolves.toHaveProperty('status')
    const typeOnly = () =>
      // @ts-expect-error a commit takes no compensate
      createWorkflow('x').commit('c', () => {}, { compensate: () => {} })
    expect(typeof typeOnly).toBe('function')
  })
})
