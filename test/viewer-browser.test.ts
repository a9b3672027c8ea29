/**
 * The viewer in real headless Chromium, against a live `flux dev --db <sqlite file>` server
 * whose database holds runs in every status (made by real workflows). Screenshots go to
 * test-results/ (a CI artifact).
 */
import { SqliteStorage } from '../src/sqlite.js'
import { tempDir } from './helpers/sqlite-temp.js'
import { viewerBrowserSuite } from './helpers/viewer-suite.js'

viewerBrowserSuite('viewer in Chromium on SQLite', async () => {
  const dir = tempDir('fluxflow-viewer')
  const path = dir.file('flux.db')
  return {
    makeStorage: () => new SqliteStorage({ path }),
    dbArgs: ['--db', path],
    cleanup: async () => dir.remove(),
  }
})
