/**
 * Types for the slice of `bun:test` the Bun test files use. The project type-checks on Node
 * without `@types/bun`; Bun itself provides the module at run time.
 */
declare module 'bun:test' {
  export function describe(name: string, fn: () => void): void
  export function it(name: string, fn: () => Promise<void> | void, timeout?: number): void
  export function expect(value: unknown): any
  export function afterAll(fn: () => Promise<void> | void): void
}
