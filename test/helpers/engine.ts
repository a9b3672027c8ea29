import { FluxEngine, type FluxEngineConfig, FluxSilentLogger, MemoryStorage } from '../../src/index.js'
import { FakeClock } from '../../src/testing/index.js'

/** An engine on MemoryStorage with a fake clock and no log output. */
export function testEngine(config: FluxEngineConfig = {}) {
  const clock = (config.clock as FakeClock | undefined) ?? new FakeClock()
  const storage = config.storage ?? new MemoryStorage()
  const engine = new FluxEngine({
    logger: new FluxSilentLogger(),
    random: () => 0.5,
    ...config,
    clock,
    storage,
  })
  return { engine, clock, storage: storage as MemoryStorage }
}

/** An engine on a shared store and clock (several engines = several processes), silent, short leases. */
export function engineOn(
  storage: MemoryStorage,
  clock: FakeClock,
  extra: ConstructorParameters<typeof FluxEngine>[0] = {},
) {
  return new FluxEngine({
    storage,
    clock,
    logger: new FluxSilentLogger(),
    leaseMs: 10_000,
    pollInterval: 500,
    ...extra,
  })
}

/** A logger that records what it is given. */
export class RecordingLogger {
  readonly lines: { level: string; message: string; args: unknown[] }[] = []
  debug(message: string, ...args: unknown[]) {
    this.lines.push({ level: 'debug', message, args })
  }
  info(message: string, ...args: unknown[]) {
    this.lines.push({ level: 'info', message, args })
  }
  warn(message: string, ...args: unknown[]) {
    this.lines.push({ level: 'warn', message, args })
  }
  error(message: string, ...args: unknown[]) {
    this.lines.push({ level: 'error', message, args })
  }
}
