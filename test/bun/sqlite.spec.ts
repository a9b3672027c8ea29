/**
 * Entry for `bun test test/bun/`: Bun only discovers files named `*.test.*`, `*.spec.*`,
 * `*_test_*` or `*_spec_*`, and vitest must not see a file that imports `bun:test` (it collects
 * `*.test.ts`), so the suite lives in sqlite-conformance.bun.ts and registers its tests when
 * this file imports it. `bun test ./test/bun/sqlite-conformance.bun.ts` runs it directly too.
 */
import './sqlite-conformance.bun.js'
