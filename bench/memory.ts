/**
 * MemoryStorage: three-step workflows, sequential and concurrent, against the floor of the same
 * three steps as plain awaited function calls.
 */
import { createWorkflow, FluxEngine, FluxSilentLogger, MemoryStorage } from '../src/index.js'
import { type Measurement, measure } from './harness.js'

type Data = { a?: number; b?: number; c?: number }

const stepA = (input: { n: number }, data: Data) => {
  data.a = input.n + 1
}
const stepB = (_input: { n: number }, data: Data) => {
  data.b = (data.a ?? 0) * 2
}
const stepC = (_input: { n: number }, data: Data) => {
  data.c = (data.b ?? 0) - 1
}

export const threeSteps = createWorkflow('bench-three')
  .input<{ n: number }>()
  .data<Data>()
  .step('a', (ctx) => stepA(ctx.input, ctx.data))
  .step('b', (ctx) => stepB(ctx.input, ctx.data))
  .step('c', (ctx) => stepC(ctx.input, ctx.data))

/** The floor: the same three steps as plain awaited calls. */
async function plain(n: number): Promise<Data> {
  const input = { n }
  const data: Data = {}
  await stepA(input, data)
  await stepB(input, data)
  await stepC(input, data)
  return data
}

export async function memoryBench(): Promise<{ ours: Measurement; floor: Measurement }[]> {
  // Steady state, not JIT tier-up: V8 needs tens of thousands of calls before the hot path is
  // optimised (the first 3,000 runs go 3× slower than the rest), so warm both paths well.
  for (let round = 0; round < 4; round++) {
    const warm = new FluxEngine({ storage: new MemoryStorage(), logger: new FluxSilentLogger() })
    await measure('warm-up', 5000, round % 2 ? 100 : 1, (n) => warm.execute(threeSteps, { n }))
    await warm.close()
  }
  await measure('warm-up', 20_000, 1, plain)
  const seqEngine = new FluxEngine({ storage: new MemoryStorage(), logger: new FluxSilentLogger() })
  const seq = await measure('memory sequential (1,000)', 1000, 1, (n) => seqEngine.execute(threeSteps, { n }))
  // The floor runs 100× more calls: at well under a microsecond each, 1,000 would time the clock.
  const seqFloor = await measure('plain calls sequential (100,000)', 100_000, 1, plain)
  await seqEngine.close()

  const conEngine = new FluxEngine({ storage: new MemoryStorage(), logger: new FluxSilentLogger() })
  const con = await measure('memory concurrent (5,000, pool 100)', 5000, 100, (n) =>
    conEngine.execute(threeSteps, { n }),
  )
  const conFloor = await measure('plain calls concurrent (500,000, pool 100)', 500_000, 100, plain)
  await conEngine.close()
  return [
    { ours: seq, floor: seqFloor },
    { ours: con, floor: conFloor },
  ]
}
