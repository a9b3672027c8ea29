/**
 * Shared measuring helpers: every benchmark reports throughput and per-run latency percentiles,
 * and is printed beside its floor measured in the same process.
 */

export interface Measurement {
  name: string
  runs: number
  /** Workflows per second. */
  rate: number
  p50: number
  p99: number
}

/**
 * Unmeasured runs before a storage benchmark's first timed row, on our side and the floor's. The
 * numbers describe a long-lived service, not V8 tiering up: on this machine a sequential Postgres
 * run costs 2 ms of Node CPU for its first few hundred runs and 0.4 ms after ~1,000 (TurboFan;
 * with `--no-opt` it stays at 1.4 ms), and SQLite's sequential runs go from 1.2 to 0.75 ms.
 */
export const JIT_WARM_RUNS = 1500

/** Runs `count` calls of `one` with at most `concurrency` in flight; measures each call. */
export async function measure(
  name: string,
  count: number,
  concurrency: number,
  one: (i: number) => Promise<unknown>,
): Promise<Measurement> {
  const latencies: number[] = new Array(count)
  let next = 0
  const started = performance.now()
  const lane = async () => {
    for (;;) {
      const i = next++
      if (i >= count) return
      const t = performance.now()
      await one(i)
      latencies[i] = performance.now() - t
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
  return summarize(name, latencies, performance.now() - started)
}

/** Rate over `elapsed` ms and percentiles of one side's per-workflow latencies. */
function summarize(name: string, latencies: number[], elapsed: number): Measurement {
  latencies.sort((a, b) => a - b)
  return {
    name,
    runs: latencies.length,
    rate: (latencies.length / elapsed) * 1000,
    p50: pct(latencies, 0.5),
    p99: pct(latencies, 0.99),
  }
}

/** One side of an interleaved comparison: what to call per workflow, and what to call it. */
export interface Contender {
  name: string
  one: (i: number) => Promise<unknown>
}

/**
 * Times `count` sequential workflows of each contender in `rounds` alternating slices (ours, the
 * floor, ours, the floor…), so a change in the shared machine's speed during the measurement
 * hits every side alike and the ratio stays meaningful. A side's rate is its workflows over the
 * sum of its slices; its percentiles are over all its workflows. Call indexes run 0…count-1 per
 * side, as with `measure`.
 */
export async function measureInterleaved(
  count: number,
  rounds: number,
  contenders: Contender[],
): Promise<Measurement[]> {
  const sides = contenders.map(() => ({ latencies: [] as number[], elapsed: 0 }))
  const slice = Math.ceil(count / rounds)
  for (let from = 0; from < count; from += slice) {
    const to = Math.min(count, from + slice)
    for (const [k, contender] of contenders.entries()) {
      const side = sides[k]!
      const started = performance.now()
      for (let i = from; i < to; i++) {
        const t = performance.now()
        await contender.one(i)
        side.latencies.push(performance.now() - t)
      }
      side.elapsed += performance.now() - started
    }
  }
  return contenders.map(({ name }, k) => summarize(name, sides[k]!.latencies, sides[k]!.elapsed))
}

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

/** Prints a table: each of our rows with its floor and the ratio. */
export function printTable(title: string, rows: { ours: Measurement; floor: Measurement }[]): void {
  console.log(`\n${title}`)
  const header = ['benchmark', 'fluxflow wf/s', 'p50 ms', 'p99 ms', 'floor wf/s', 'floor p50', 'ratio']
  const lines = rows.map(({ ours, floor }) => [
    ours.name,
    fmt(ours.rate),
    ours.p50.toFixed(3),
    ours.p99.toFixed(3),
    fmt(floor.rate),
    floor.p50.toFixed(3),
    `${(ours.rate / floor.rate).toFixed(2)}×`,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(row(header))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const l of lines) console.log(row(l))
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)
}
