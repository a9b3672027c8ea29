/**
 * `flux runs list|show|retry|signal|cancel` on a SQLite database with runs in every status:
 * tables for people, `--json` for scripts, and exit codes (0 ok, 1 refused, 2 usage,
 * 3 not found, 4 unreachable). Mostly in-process; a few through the real bin in a child process.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../src/cli/run-cli.js'
import type { ActionResultView, RunDetailView, RunListView } from '../src/cli/view-model.js'
import { FluxEngine, FluxSilentLogger } from '../src/index.js'
import { SqliteStorage } from '../src/sqlite.js'
import { tempDir } from './helpers/sqlite-temp.js'
import { buildViewerFixture, IDS, until, type ViewerFixture, XSS } from './helpers/viewer-fixtures.js'

const dir = tempDir('fluxflow-cli')
const db = dir.file('flux.db')
let fixture: ViewerFixture

beforeAll(async () => {
  fixture = await buildViewerFixture(() => new SqliteStorage({ path: db }))
})

afterAll(async () => {
  await fixture?.close()
  dir.remove()
})

/** Runs `flux …` in-process; returns the exit code and what it printed. */
async function flux(...argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {} })
  return { code, stdout: out.join('\n'), stderr: err.join('\n') }
}

describe('flux runs list', () => {
  it('prints a table, newest first', async () => {
    const { code, stdout } = await flux('runs', 'list', '--db', db)
    expect(code).toBe(0)
    const lines = stdout.split('\n')
    expect(lines[0]).toMatch(/^ID\s+WORKFLOW\s+STATUS\s+STEP\s+CREATED\s+UPDATED$/)
    expect(lines[1]).toMatch(
      /^import-running\s+import-batch\s+running\s+2\/2 parse\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/,
    )
    expect(stdout).toContain('1–12 of 12')
  })

  it('filters by workflow and status, pages, and prints JSON for scripts', async () => {
    const { code, stdout } = await flux(
      'runs',
      'list',
      '--db',
      db,
      '--workflow',
      'approval',
      '--status',
      'suspended',
      '--json',
    )
    expect(code).toBe(0)
    const view = JSON.parse(stdout) as RunListView
    expect(view.runs.map((r) => r.id).sort()).toEqual([IDS.suspended, IDS.toCancel, IDS.toSignal].sort())
    const page = JSON.parse(
      (await flux('runs', 'list', '--db', db, '--limit', '2', '--offset', '3', '--json')).stdout,
    ) as RunListView
    expect(page).toMatchObject({ total: 12, limit: 2, offset: 3 })
    expect(page.runs).toHaveLength(2)
    expect((await flux('runs', 'list', '--db', db, '--id', 'order-')).stdout).toContain('1–3 of 3')
  })

  it('keeps hostile strings from moving the terminal cursor', async () => {
    const { stdout } = await flux('runs', 'list', '--db', db, '--status', 'failed')
    expect(stdout).toContain(XSS.name)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: that is what is being checked.
    expect(stdout).not.toMatch(/\u001b/)
  })

  it('exits 2 with a message for wrong usage', async () => {
    expect(await flux('runs', 'list', '--db', db, '--status', 'bogus')).toMatchObject({ code: 2 })
    expect((await flux('runs', 'list', '--db', db, '--status', 'bogus')).stderr).toContain(
      'Unknown status "bogus"',
    )
    expect((await flux('runs', 'list', '--db', db, '--limit', 'ten')).code).toBe(2)
    expect((await flux('runs', 'list', '--db', db, '--frobnicate')).code).toBe(2)
    expect((await flux('runs', 'list', '--db', db, '--from', 'x')).stderr).toContain('--from does not apply')
    expect((await flux('runs', 'list')).stderr).toContain('--db')
    expect((await flux('runs', 'show', '--db', db)).code).toBe(2)
    expect((await flux('runs', 'launch', '--db', db)).code).toBe(2)
    expect((await flux('nope')).code).toBe(2)
    expect((await flux('runs', '--help')).code).toBe(0)
    expect((await flux('--help')).stdout).toContain('flux dev')
  })
})

describe('flux runs show', () => {
  it('prints the timeline, attempts, signals, input, data and error', async () => {
    const { code, stdout } = await flux('runs', 'show', IDS.rolledBack, '--db', db)
    expect(code).toBe(0)
    expect(stdout).toMatch(/Status:\s+rolled_back/)
    expect(stdout).toMatch(/^#\s+STEP\s+STATUS\s+START\s+DURATION\s+ATTEMPTS\s+NOTE$/m)
    expect(stdout).toMatch(/^3\s+charge-card \(commit\)\s+completed/m)
    expect(stdout).toMatch(/^2\s+reserve-stock\s+compensated\s+.*compensated \d{4}-/m)
    expect(stdout).toMatch(/^5\s+ship\s+failed\s+.*\s3\s+error: carrier API down$/m)
    expect(stdout).toContain('ship attempt 1 at')
    // The backoff is 15 ms; the checkpoint that records it may be stamped a millisecond later.
    expect(stdout).toMatch(/retry after 1[45] ms/)
    expect(stdout).toContain('Input:\n  { failShip: true }')
    expect(stdout).toContain('Error:\n  Error: carrier API down')
  })

  it('prints JSON with --json, and exits 3 for an unknown id', async () => {
    const { stdout } = await flux('runs', 'show', IDS.suspended, '--db', db, '--json')
    const view = JSON.parse(stdout) as RunDetailView
    expect(view.run.waitingFor).toBe('approved')
    const missing = await flux('runs', 'show', 'no-such-run', '--db', db)
    expect(missing.code).toBe(3)
    expect(missing.stderr).toBe('flux: No run with id "no-such-run"')
    const json = await flux('runs', 'show', 'no-such-run', '--db', db, '--json')
    expect(JSON.parse(json.stderr)).toEqual({ error: 'No run with id "no-such-run"', exitCode: 3 })
  })
})

describe('flux runs retry|signal|cancel', () => {
  it('signal: refused (1) with the engine message, bad payload (2), unknown run (3), stored (0)', async () => {
    const ended = await flux('runs', 'signal', IDS.completed, 'approved', '--db', db)
    expect(ended).toMatchObject({ code: 1, stderr: 'flux: Workflow is not suspended (status: completed)' })
    const wrong = await flux('runs', 'signal', IDS.toSignal, 'rejected', '--db', db)
    expect(wrong).toMatchObject({
      code: 1,
      stderr: 'flux: Workflow waiting for signal "approved", received "rejected"',
    })
    const bad = await flux('runs', 'signal', IDS.toSignal, 'approved', '--payload', '{by: me}', '--db', db)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--payload is not valid JSON')
    expect((await flux('runs', 'signal', 'nope', 'approved', '--db', db)).code).toBe(3)
    const ok = await flux(
      'runs',
      'signal',
      IDS.toSignal,
      'approved',
      '--payload',
      '{"by":"cli"}',
      '--db',
      db,
      '--json',
    )
    expect(ok.code).toBe(0)
    const result = JSON.parse(ok.stdout) as ActionResultView
    expect(result.message).toContain('delivered')
    const twice = await flux('runs', 'signal', IDS.toSignal, 'approved', '--db', db)
    expect(twice.code).toBe(1)
    expect(twice.stderr).toContain('already delivered')
  })

  it('retry: resets a failed run to pending; a worker with the definition completes it', async () => {
    const unknownStep = await flux('runs', 'retry', IDS.failed, '--from', 'nope', '--db', db)
    expect(unknownStep).toMatchObject({ code: 3, stderr: 'flux: Step not found: nope' })
    const held = await flux('runs', 'retry', IDS.running, '--db', db)
    expect(held.code).toBe(1)
    expect(held.stderr).toContain('is being run by')
    const ok = await flux('runs', 'retry', IDS.failed, '--from', 'send', '--db', db)
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('will retry from step "send"')
    const shown = JSON.parse(
      (await flux('runs', 'show', IDS.failed, '--db', db, '--json')).stdout,
    ) as RunDetailView
    expect(shown.run.status).toBe('pending')
    expect(shown.steps.map((s) => s.status)).toEqual(['completed', 'pending'])

    fixture.controls.sendBroken = false
    const storage = new SqliteStorage({ path: db })
    const worker = new FluxEngine({
      storage,
      workflows: [fixture.flows.invoice, fixture.flows.approval],
      logger: new FluxSilentLogger(),
      pollInterval: 50,
    })
    try {
      await worker.start()
      await until(async () => (await storage.getRun(IDS.failed))?.status === 'completed')
      await until(async () => (await storage.getRun(IDS.toSignal))?.status === 'completed')
    } finally {
      await worker.close()
    }
    expect((await flux('runs', 'show', IDS.toSignal, '--db', db)).stdout).toContain('received "approved"')
  })

  it('cancel: cancels a run that has not ended, refuses one that has', async () => {
    const ok = await flux('runs', 'cancel', IDS.toCancel, '--reason', 'duplicate', '--db', db)
    expect(ok).toMatchObject({ code: 0, stdout: `Run ${IDS.toCancel} cancelled` })
    const again = await flux('runs', 'cancel', IDS.toCancel, '--db', db)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('has already ended (status: cancelled)')
    expect((await flux('runs', 'cancel', 'nope', '--db', db)).code).toBe(3)
    expect((await flux('runs', 'show', IDS.toCancel, '--db', db)).stdout).toContain(
      'Workflow cancelled: duplicate',
    )
  })
})

describe('the flux bin', () => {
  const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))
  const bin = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 30_000 })

  it('runs as a process with meaningful exit codes', () => {
    const list = bin('runs', 'list', '--db', db, '--json', '--limit', '1')
    expect(list.status).toBe(0)
    expect((JSON.parse(list.stdout) as RunListView).runs).toHaveLength(1)
    expect(bin('runs', 'show', 'nope', '--db', db).status).toBe(3)
    const missing = bin('runs', 'list', '--db', dir.file('missing.db'))
    expect(missing.status).toBe(4)
    expect(missing.stderr).toContain('does not exist')
    expect(bin('runs', 'list').status).toBe(2)
    expect(bin('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })
})
