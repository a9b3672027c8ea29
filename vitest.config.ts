import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url))

export default defineConfig({
  resolve: {
    // Examples import the package by name, as users do; tests run them against the sources.
    alias: [
      { find: /^fluxflow$/, replacement: src('index.ts') },
      { find: /^fluxflow\/testing$/, replacement: src('testing/index.ts') },
      { find: /^fluxflow\/sqlite$/, replacement: src('sqlite.ts') },
      { find: /^fluxflow\/bun$/, replacement: src('bun.ts') },
      { find: /^fluxflow\/postgres$/, replacement: src('postgres.ts') },
      { find: /^fluxflow\/otel$/, replacement: src('otel.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
})
