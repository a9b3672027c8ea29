/**
 * The viewer's browser tests, against a live `flux dev` server on a real database: written once,
 * run on SQLite (viewer-browser.test.ts) and on Postgres (viewer-postgres.test.ts).
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type DevSession, startDev } from '../../src/cli/dev-command.js'
import { FluxEngine, FluxSilentLogger, type FluxStore, type WorkflowStorage } from '../../src/index.js'
import { describeBrowser, launchChromium, screenshot, watchPage } from './viewer-browser.js'
import { buildViewerFixture, IDS, type ViewerFixture, XSS } from './viewer-fixtures.js'

type Store = FluxStore & WorkflowStorage

/** A database for one suite: how to open it, and how `flux dev` names it. */
export interface SuiteDatabase {
  makeStorage: () => Store
  /** `--db …` (and `--schema …`) for `flux dev`. */
  dbArgs: string[]
  cleanup(): Promise<void>
}

const io = { stdout: () => {}, stderr: (text: string) => console.error(text), env: {} }

/** Registers the browser suite. `prefix` names its screenshots (`viewer-list.png` for ''). */
export function viewerBrowserSuite(title: string, setup: () => Promise<SuiteDatabase>, prefix = ''): void {
  describeBrowser(title, () => {
    let db: SuiteDatabase
    let fixture: ViewerFixture
    let dev: DevSession
    let browser: Browser
    let page: Page
    let watched: { problems: string[] }
    let worker: FluxEngine | undefined
    const shot = (name: string) => screenshot(page, `viewer-${prefix}${name}`)

    beforeAll(async () => {
      db = await setup()
      fixture = await buildViewerFixture(db.makeStorage, { extra: 55 })
      dev = await startDev([...db.dbArgs, '--port', '0', '--allow-actions', '--poll', '200'], io)
      browser = await launchChromium()
      page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
      // Below vitest's own 30 s, so a wait that fails says what it waited for.
      page.setDefaultTimeout(20_000)
      watched = watchPage(page, new URL(dev.url).origin)
    }, 120_000)

    afterAll(async () => {
      await browser?.close()
      await worker?.close()
      await dev?.close()
      await fixture?.close()
      await db?.cleanup()
    })

    const runRow = (id: string) => page.locator(`tr.run-row[data-run="${id}"]`)
    const headStatus = () => page.locator('#run-head .badge').first().getAttribute('data-status')
    const waitForHeadStatus = (status: string) =>
      page.locator(`#run-head .badge[data-status="${status}"]`).waitFor({ timeout: 20_000 })

    it('lists runs in every status, filters them, searches by id and pages', async () => {
      await page.goto(dev.url)
      await runRow(IDS.running).waitFor()
      const statuses = await page
        .locator('tr.run-row .badge')
        .evaluateAll((els) => els.map((el) => el.getAttribute('data-status')))
      for (const status of [
        'running',
        'suspended',
        'pending',
        'cancelled',
        'failed',
        'rolled_back',
        'compensation_failed',
        'completed',
      ])
        expect(statuses).toContain(status)
      expect(await page.locator('.pager [data-total]').getAttribute('data-total')).toBe('67')
      await shot('list')

      await page.locator('input[data-filter-status="failed"]').check()
      // Browser-side code goes through `globalThis as any`: this project is type-checked without
      // the DOM library, and strings would be eval, which the page's CSP rightly refuses.
      await page.waitForFunction(() => (globalThis as any).location.hash.includes('status=failed'))
      await page.locator('tr.run-row').first().waitFor()
      await page.waitForFunction(() =>
        [...(globalThis as any).document.querySelectorAll('tr.run-row .badge')].every(
          (b: any) => b.getAttribute('data-status') === 'failed',
        ),
      )
      const failed = await page
        .locator('tr.run-row')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run')))
      expect(failed.sort()).toEqual([IDS.failed, IDS.hostile].sort())

      await page.getByRole('button', { name: 'Clear' }).click()
      await page.locator('input[name="q"]').fill('order-')
      await page.locator('input[name="q"]').press('Enter')
      await page.waitForFunction(
        () => (globalThis as any).document.querySelectorAll('tr.run-row').length === 3,
      )

      await page.getByRole('button', { name: 'Clear' }).click()
      await page.getByRole('button', { name: 'Older →' }).click()
      await page.waitForFunction(
        () => (globalThis as any).document.querySelector('.pager span')?.textContent === '51–67 of 67',
      )
      expect(await page.locator('tr.run-row').count()).toBe(17)
    })

    it('goes from the list to a run, its timeline, graph and a step', async () => {
      await page.goto(dev.url)
      await runRow(IDS.rolledBack).locator('a').click()
      await page.locator('h1', { hasText: IDS.rolledBack }).waitFor()
      expect(await headStatus()).toBe('rolled_back')
      expect(await page.locator('.tl-row').count()).toBe(5)
      expect(await page.locator('svg.graph .node').count()).toBe(5)
      expect(await page.locator('svg.graph .node.failed text').first().textContent()).toBe('ship')
      expect(await page.locator('svg.graph .node.compensated text').first().textContent()).toBe(
        'reserve-stock',
      )
      expect(await page.locator('svg.graph .badges .badge.condition').count()).toBeGreaterThan(0)
      expect(await page.locator('svg.graph .badges .badge.undo').count()).toBeGreaterThan(0)
      expect(await page.locator('svg.graph .node.skipped text').first().textContent()).toBe('gift-wrap')
      expect(await page.locator('svg.graph .node > polygon').count()).toBe(1) // the commit
      // Backoff waits between the ship attempts are drawn to scale, and the compensation too.
      expect(await page.locator('.tl-row[data-step="4"] .bar.backoff').count()).toBe(2)
      expect(await page.locator('.tl-row[data-step="4"] .mark.fail').count()).toBe(3)
      expect(await page.locator('.tl-row[data-step="1"] .bar.compensation').count()).toBe(1)

      await page.locator('.tl-row[data-step="4"] .tl-track').click()
      const panel = page.locator('[data-step-panel="4"]')
      await panel.waitFor()
      expect(await panel.locator('[data-field="step-error"]').textContent()).toBe('carrier API down')
      expect(await panel.locator('tbody tr').count()).toBe(3)
      expect(await panel.textContent()).toContain('final')

      await page.locator('svg.graph .node[data-node="0"]').click()
      const first = page.locator('[data-step-panel="0"]')
      await first.waitFor()
      const keys = await first.locator('.diff td.key').allTextContents()
      expect(keys).toEqual(['items', 'placedAt', 'tags'])
      expect(await first.locator('.diff td.after').first().textContent()).toContain('Map(2)')
      expect(await page.locator('[data-field="error"]').textContent()).toContain('carrier API down')
      await page.locator('.tl-row[data-step="4"] .tl-track').click()
      await panel.waitFor()
      await shot('run')
    })

    it('shows hostile strings as text and never runs them', async () => {
      await page.goto(`${dev.url}#/?status=failed`)
      await runRow(IDS.hostile).waitFor()
      expect(await runRow(IDS.hostile).locator('td').nth(1).textContent()).toBe(XSS.name)
      await runRow(IDS.hostile).locator('a').click()
      await page.locator('h1').filter({ hasText: XSS.id }).waitFor()
      await page.locator('.tl-row[data-step="1"] .tl-track').click()
      await page.locator('[data-step-panel="1"]').waitFor()
      await page.locator('.tl-row[data-step="0"] .tl-label a').click()
      await page.locator('[data-step-panel="0"]').waitFor()
      // biome-ignore lint/performance/useDomNodeTextContent: what is rendered visibly is the point.
      const text = await page.locator('main').innerText()
      expect(text).toContain(XSS.name)
      expect(text).toContain(XSS.error)
      expect(await page.locator('[data-field="error"]').textContent()).toContain(XSS.error)
      expect(await page.locator('[data-field="data"]').textContent()).toContain(XSS.error)
      expect(await page.locator('main img, main script, main svg[onload]').count()).toBe(0)
      expect(await page.evaluate(() => typeof (globalThis as any).__xss)).toBe('undefined')
      await shot('xss')
      expect(watched.problems).toEqual([])
    })

    it('retries a failed run from a step; a worker carries it out and the page follows live', async () => {
      await page.goto(`${dev.url}#/run/${IDS.failed}`)
      await waitForHeadStatus('failed')
      await page.evaluate(() => {
        ;(globalThis as any).__noReload = 1
      })
      await page.locator('select[name="fromStep"]').selectOption('send')
      await page.locator('button[data-action="retry"]').click()
      const result = page.locator('[data-field="action-result"]')
      await result.filter({ hasText: 'pending' }).waitFor()
      await waitForHeadStatus('pending')

      fixture.controls.sendBroken = false
      worker = new FluxEngine({
        storage: db.makeStorage(),
        workflows: [fixture.flows.invoice, fixture.flows.approval],
        logger: new FluxSilentLogger(),
        pollInterval: 100,
      })
      await worker.start()
      await waitForHeadStatus('completed')
      expect(await page.evaluate(() => (globalThis as any).__noReload)).toBe(1)
      expect(await page.locator('svg.graph .terminal.reached').count()).toBe(2)
      await shot('retried')
    })

    it('sends a signal with a JSON payload, and says clearly when the JSON is wrong', async () => {
      await page.goto(`${dev.url}#/run/${IDS.toSignal}`)
      await waitForHeadStatus('suspended')
      expect(await page.locator('input[name="signal"]').inputValue()).toBe('approved')
      await page.locator('textarea[name="payload"]').fill('{"by": ops}')
      await page.locator('button[data-action="signal"]').click()
      const result = page.locator('[data-field="action-result"]')
      await result.filter({ hasText: 'Payload is not valid JSON' }).waitFor()
      expect(await result.getAttribute('class')).toContain('error')

      await page.locator('textarea[name="payload"]').fill('{"by": "ops@example.com"}')
      await page.locator('button[data-action="signal"]').click()
      await result.filter({ hasText: 'delivered' }).waitFor()
      await waitForHeadStatus('completed')
      await page.locator('[data-field="signals"]').filter({ hasText: 'ops@example.com' }).waitFor()
      expect(await page.locator('[data-field="data"]').textContent()).toContain(
        'approvedBy: "ops@example.com"',
      )
    })

    it('cancels a run', async () => {
      await page.goto(`${dev.url}#/run/${IDS.toCancel}`)
      await waitForHeadStatus('suspended')
      await page.locator('input[name="reason"]').fill('duplicate order')
      await page.locator('button[data-action="cancel"]').click()
      await waitForHeadStatus('cancelled')
      await page
        .locator('[data-field="error"]')
        .filter({ hasText: 'Workflow cancelled: duplicate order' })
        .waitFor()
      // Cancelling again is refused, with the reason.
      await page.locator('button[data-action="cancel"]').click()
      await page.locator('[data-field="action-result"]').filter({ hasText: 'already ended' }).waitFor()
      expect(watched.problems).toEqual([])
    })
  })
}
