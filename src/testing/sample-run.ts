/**
 * What the conformance suites share: the slice of a test framework they need, a fixed start
 * time, and records to feed a store.
 */
import type { LeaseParams, NewRun } from '../storage/contract.js'

/** The slice of a test framework the suite needs (vitest, jest and bun:test all fit). */
export interface TestApi {
  describe(name: string, fn: () => void): void
  it(name: string, fn: () => Promise<void> | void, timeout?: number): void
  expect: (value: unknown) => any
}

/** The time every sample run is created at (epoch ms). */
export const T0 = 1_700_000_000_000

/** A new run record for tests. */
export function sampleRun(id: string, patch: Partial<NewRun> = {}): NewRun {
  return {
    id,
    workflowName: 'wf',
    workflowVersion: null,
    definitionHash: 'h1',
    definitionKey: 'wf#h1',
    status: 'running',
    queue: 'default',
    priority: 0,
    input: '[{"n":1},1]',
    cursor: 0,
    waitingFor: null,
    wakeAt: null,
    error: null,
    meta: '{"steps":[["a","s"],["b","c"]]}',
    createdAt: T0,
    updatedAt: T0,
    completedAt: null,
    ...patch,
  }
}

/** A lease for tests: `expiresAt` defaults to 30 s after {@link T0}. */
export function testLease(owner: string, token: string, expiresAt = T0 + 30_000): LeaseParams {
  return { owner, token, expiresAt }
}
