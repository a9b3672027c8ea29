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
  const warm = new FluxEngine({ storage: new MemoryStorage(), logger: new FluxSilentLogger() })
  await measure('warm-up', 3000, 1, (n) => warm.execute(threeSteps, { n }))
  await measure('warm-up', 3000, 1, plain)
  await warm.close()

  const seqEngine = new FluxEngine({ storage: new MemoryStorage(), logger: new FluxSilentLogger() })
  const seq = await measure('memory sequential (1,000)', 1000, 1, (n) => seqEngine.execute(threeSteps, { n }))
  const seqFloor = await measure('plain calls sequential', 1000, 1, plain)
  await seqEngine.close()

  const conEngine = new FluxEngine({ storage: new MemoryStorage(), logger: new FluxSilentLogger() })
  const con = await measure('memory concurrent (5,000, pool 100)', 5000, 100, (n) =>
    conEngine.execute(threeSteps, { n }),
  )
  const conFloor = await measure('plain calls concurrent', 5000, 100, plain)
  await conEngine.close()
  return [
    { ours: seq, floor: seqFloor },
    { ours: con, floor: conFloor },
  ]
}
