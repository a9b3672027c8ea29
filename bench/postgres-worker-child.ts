/**
 * Child process of the worker-scaling benchmark. Args: url schema index concurrency.
 * Connects, registers the workflow and prints `READY`; starts its worker when the parent writes
 * `GO` on stdin (so every process starts together), and runs until the parent kills it.
 */
import { FluxEngine, FluxSilentLogger } from '../src/index.js'
import { PostgresStorage } from '../src/postgres.js'
import { threeSteps } from './memory.js'

const [url, schema, index, concurrency] = process.argv.slice(2) as [string, string, string, string]
const engine = new FluxEngine({
  storage: new PostgresStorage({ connectionString: url, schema }),
  logger: new FluxSilentLogger(),
  workerId: `bench-scaling-${index}`,
  recoverOnInit: false,
  workflows: [threeSteps],
})
await engine.init()
const worker = engine.worker({ concurrency: Number(concurrency), pollInterval: 50 })
process.stdout.write('READY\n')
process.stdin.once('data', () => {
  void worker.start()
})
