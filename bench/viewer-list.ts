/**
 * The viewer's list page on a big SQLite database: 100 000 runs, first page in under 300 ms.
 *
 * Fills a fresh SQLite file through the store's own `createRun` (group commit puts each chunk in
 * one transaction), starts the `flux dev` server on it, then measures:
 * - the list API (`GET /api/runs`, the first page of 50, with its total): the first request
 *   (cold prepared statements), and the median of later ones, unfiltered and filtered;
 * - the rendered page in headless Chromium: from navigation start to the first page of rows in
 *   the DOM (`performance.mark('flux:list-rendered')` set by the page), for a fresh page each
 *   time. Skipped, with a note, when Chromium is not installed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../src/cli/open-store.js'
import { startViewerServer } from '../src/cli/server.js'
import { StoreSource } from '../src/cli/source.js'
import { SqliteStorage } from '../src/sqlite.js'
import type { NewRun } from '../src/storage/contract.js'
import type { WorkflowStatus } from '../src/types.js'

/** Options of {@link viewerListBench}. */
export interface ViewerListBenchOptions {
  /** Runs in the database. Default 100 000. */
  runs?: number
  /** Timed repetitions after the first request. Default 20. */
  repeat?: number
  /** Chromium binary; the rendered measurement is skipped when it is missing. */
  chromiumPath?: string
  /** Folder for the database; a fresh temp folder (removed afterwards) by default. */
  dir?: string
}

/** What was measured, in milliseconds. */
export interface ViewerListBenchResult {
  runs: number
  fillMs: number
  /** First `GET /api/runs` after the server started. */
  apiFirstMs: number
  /** Median of later first-page requests, by query. */
  apiMedianMs: Record<string, number>
  /**
   * Navigation start → the frame that paints the first page of rows (medians): in a new browser
   * context (`coldMs`), on reload of an open tab (`warmMs`), and the same browser's first paint
   * of a one-line page in an open tab and in a new context (`blankPage…`), the floor on this
   * machine at that moment.
   */
  rendered:
    | { coldMs: number; warmMs: number; warmMinMs: number; blankPageMs: number; blankPageColdMs: number }
    | { skipped: string }
  /** The floor asked of the list page. */
  budgetMs: number
}

const WORKFLOWS = ['checkout', 'invoice', 'approval', 'nightly-report', 'import-batch']
const STATUSES: WorkflowStatus[] = [
  'completed',
  'completed',
  'completed',
  'failed',
  'suspended',
  'running',
  'rolled_back',
  'cancelled',
]
const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/** A run row as the engine would have written it (no checkpoints: the list never reads them). */
function syntheticRun(i: number, now: number): NewRun {
  const workflow = WORKFLOWS[i % WORKFLOWS.length]!
  const status = STATUSES[(i * 7) % STATUSES.length]!
  const steps: [string, 's' | 'c'][] = [
    ['validate', 's'],
    ['reserve', 's'],
    ['charge', 'c'],
    ['ship', 's'],
  ]
  const createdAt = now - (100_000 - i) * 26_000 // about a month of runs, one every 26 s
  const ended = status !== 'running' && status !== 'suspended'
  return {
    id: `run-${String(i).padStart(6, '0')}-${((i * 2654435761) >>> 0).toString(36)}`,
    workflowName: workflow,
    workflowVersion: null,
    definitionHash: '0123456789abcdef',
    definitionKey: `${workflow}#0123456789abcdef`,
    status,
    queue: 'default',
    priority: 0,
    input: `~${JSON.stringify({ orderId: `A-${i}`, cents: 1000 + (i % 5000) })}`,
    cursor: ended ? 4 : i % 4,
    waitingFor: status === 'suspended' ? 'approved' : null,
    wakeAt: null,
    error: status === 'failed' ? JSON.stringify({ name: 'Error', message: 'carrier API down' }) : null,
    meta: JSON.stringify({ steps }),
    createdAt,
    updatedAt: createdAt + 1_500,
    completedAt: ended ? createdAt + 1_500 : null,
  }
}

/** Fills `path` with `count` runs through the store's verbs, a chunk per transaction. */
async function fill(path: string, count: number): Promise<void> {
  const store = new SqliteStorage({ path, synchronous: 'OFF' })
  await store.init()
  try {
    const now = Date.now()
    const chunk = 5_000
    for (let start = 0; start < count; start += chunk) {
      const writes: Promise<unknown>[] = []
      for (let i = start; i < Math.min(count, start + chunk); i++)
        writes.push(store.createRun({ run: syntheticRun(i, now) }))
      await Promise.all(writes)
    }
  } finally {
    await store.close()
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

/**
 * Fills a SQLite file with `runs` runs, serves it with the viewer, and measures the time to the
 * first page of the list: through the API and rendered in Chromium. Prints a summary and returns it.
 */
export async function viewerListBench(options: ViewerListBenchOptions = {}): Promise<ViewerListBenchResult> {
  const runs = options.runs ?? 100_000
  const repeat = options.repeat ?? 20
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'fluxflow-viewer-bench-'))
  const path = join(dir, 'flux.db')
  rmSync(path, { force: true })
  const fillMs = await timed(() => fill(path, runs))

  const opened = await openStore(path)
  const source = new StoreSource(opened.store, { label: path, onClose: opened.close })
  const server = await startViewerServer({ source, port: 0 })
  try {
    const page = async (query = '') => {
      const res = await fetch(`${server.url}api/runs${query}`)
      const body = (await res.json()) as { runs: unknown[]; total: number }
      if (res.status !== 200) throw new Error(`list failed: HTTP ${res.status}`)
      return body
    }
    let newest = ''
    const apiFirstMs = await timed(async () => {
      newest = ((await page()).runs[0] as { id: string }).id
    })
    const queries: Record<string, string> = {
      'first page': '',
      'status=failed': '?status=failed',
      'status=completed': '?status=completed',
      'status=running': '?status=running',
      'workflow=invoice': '?workflow=invoice',
      'workflow+status': '?workflow=invoice&status=suspended,failed',
      'id prefix': `?q=${encodeURIComponent(newest.slice(0, 8))}`,
      'last page': `?offset=${runs - 50}`,
    }
    const apiMedianMs: Record<string, number> = {}
    for (const [name, query] of Object.entries(queries)) {
      const times: number[] = []
      for (let i = 0; i < repeat; i++) times.push(await timed(() => page(query)))
      apiMedianMs[name] = median(times)
    }
    const rendered = await measureRendered(
      server.url,
      options.chromiumPath ?? '/usr/bin/chromium',
      Math.min(repeat, 10),
    )
    const result: ViewerListBenchResult = { runs, fillMs, apiFirstMs, apiMedianMs, rendered, budgetMs: 300 }
    report(result)
    return result
  } finally {
    await server.close()
    await source.close()
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true })
  }
}

async function measureRendered(
  url: string,
  chromiumPath: string,
  visits: number,
): Promise<ViewerListBenchResult['rendered']> {
  if (!existsSync(chromiumPath)) return { skipped: `no Chromium at ${chromiumPath}` }
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: chromiumPath, args: LAUNCH_ARGS, headless: true })
  // Functions, not strings: the page's CSP refuses eval, and string predicates are eval. (Each
  // is serialised into the page, so it names what it reads itself.)
  const ready = () => (globalThis as any).performance.getEntriesByName('flux:list-rendered').length > 0
  const mark = () =>
    (globalThis as any).performance.getEntriesByName('flux:list-rendered')[0].startTime as number
  try {
    // Cold: a new browser context (no cache, new renderer) per visit.
    const cold: number[] = []
    for (let i = 0; i < visits; i++) {
      const context = await browser.newContext()
      const tab = await context.newPage()
      await tab.goto(url)
      await tab.locator('tr.run-row').first().waitFor()
      await tab.waitForFunction(ready)
      cold.push(await tab.evaluate(mark))
      await context.close()
    }
    // The same for a one-line page: what a new context costs before any page of ours runs.
    const coldBlank: number[] = []
    for (let i = 0; i < visits; i++) {
      const context = await browser.newContext()
      const tab = await context.newPage()
      await tab.goto('data:text/html,<p>fluxflow</p>')
      await tab.waitForFunction(`performance.getEntriesByName('first-contentful-paint').length > 0`)
      coldBlank.push(
        Number(await tab.evaluate(`performance.getEntriesByName('first-contentful-paint')[0].startTime`)),
      )
      await context.close()
    }
    // Warm: reloading an open tab, what a person pressing F5 at 2 a.m. sees.
    const context = await browser.newContext()
    const tab = await context.newPage()
    await tab.goto(url)
    const warm: number[] = []
    for (let i = 0; i < visits; i++) {
      await tab.reload()
      await tab.locator('tr.run-row').first().waitFor()
      await tab.waitForFunction(ready)
      warm.push(await tab.evaluate(mark))
    }
    // The floor: first paint of a one-line page in the same browser, on this machine, now.
    const floor: number[] = []
    for (let i = 0; i < visits; i++) {
      await tab.goto('data:text/html,<p>fluxflow</p>')
      await tab.waitForFunction(`performance.getEntriesByName('first-contentful-paint').length > 0`)
      floor.push(
        Number(await tab.evaluate(`performance.getEntriesByName('first-contentful-paint')[0].startTime`)),
      )
    }
    await context.close()
    return {
      coldMs: median(cold),
      warmMs: median(warm),
      warmMinMs: Math.min(...warm),
      blankPageMs: median(floor),
      blankPageColdMs: median(coldBlank),
    }
  } finally {
    await browser.close()
  }
}

function report(r: ViewerListBenchResult): void {
  const ms = (n: number) => `${n.toFixed(1)} ms`
  console.log(
    `\nViewer list page on SQLite, ${r.runs.toLocaleString('en-US')} runs (filled in ${ms(r.fillMs)})`,
  )
  console.log(`  API first page, first request:   ${ms(r.apiFirstMs)}`)
  for (const [name, value] of Object.entries(r.apiMedianMs))
    console.log(`  API ${name.padEnd(28)} ${ms(value)} (median)`)
  if ('skipped' in r.rendered) console.log(`  rendered page: skipped (${r.rendered.skipped})`)
  else {
    console.log(
      `  rendered first page, reload of an open tab: ${ms(r.rendered.warmMs)} (median; best ${ms(r.rendered.warmMinMs)})`,
    )
    console.log(`  rendered first page, new browser context:   ${ms(r.rendered.coldMs)} (median)`)
    console.log(
      `  floor: a one-line page's first paint:       ${ms(r.rendered.blankPageMs)} in an open tab, ${ms(r.rendered.blankPageColdMs)} in a new context (medians)`,
    )
  }
  const rendered = 'skipped' in r.rendered ? 0 : r.rendered.warmMs
  const worst = Math.max(r.apiMedianMs['first page'] ?? r.apiFirstMs, rendered)
  console.log(`  budget ${r.budgetMs} ms for the first page: ${worst < r.budgetMs ? 'met' : 'MISSED'}`)
}
