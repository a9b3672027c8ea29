/**
 * Debian's chromium, driven headless by playwright-core (never a downloaded browser).
 *
 * When `/usr/bin/chromium` (or `CHROMIUM_PATH`) is missing the browser tests are skipped with a
 * loud message — except under `CI=true`, where importing this module throws: CI must never
 * pass by skipping them.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { describe } from 'vitest'

/** The browser binary. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Exactly the flags CI uses. */
export const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

const CI = process.env.CI === 'true' || process.env.CI === '1'

/** True when the browser can be launched. */
export const chromiumAvailable: boolean = existsSync(CHROMIUM_PATH)

if (!chromiumAvailable) {
  const message = `Chromium not found at ${CHROMIUM_PATH} (install Debian's: apt-get install -y chromium)`
  if (CI) throw new Error(`${message}. CI=true: the viewer's browser tests must run, not be skipped.`)
  console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING VIEWER BROWSER TESTS — ${message}\n${'!'.repeat(78)}\n`)
}

/** `describe`, or `describe.skip` without a browser outside CI. */
export const describeBrowser: typeof describe = chromiumAvailable
  ? describe
  : (describe.skip as typeof describe)

/** Launches headless chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: LAUNCH_ARGS, headless: true })
}

/** Where screenshots go (a CI artifact). */
export const RESULTS_DIR = fileURLToPath(new URL('../../test-results/', import.meta.url))

/** Saves a full-page screenshot as `test-results/<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const path = resolve(RESULTS_DIR, `${name}.png`)
  mkdirSync(dirname(path), { recursive: true })
  await page.screenshot({ path, fullPage: true })
  return path
}

/**
 * Collects what must never happen on the page: script errors, console errors, and requests to
 * anywhere but the server under test.
 */
export function watchPage(page: Page, origin: string): { problems: string[] } {
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    // A 4xx the test provokes on purpose is logged by the browser as a failed load; anything
    // else (a CSP violation above all) is a problem.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      problems.push(`console error: ${message.text()}`)
  })
  page.on('request', (request) => {
    if (!request.url().startsWith(origin)) problems.push(`request elsewhere: ${request.url()}`)
  })
  return { problems }
}
