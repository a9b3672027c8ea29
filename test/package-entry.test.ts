/**
 * The root entry must load on plain Node with no native module and no `bun:` import anywhere in
 * its static graph (the origin's Node entry crashes on exactly that), and on Bun.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '..')
const dist = join(root, 'dist')

function staticGraph(entry: string): { files: string[]; bare: string[] } {
  const files = new Set<string>()
  const bare = new Set<string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    const text = readFileSync(file, 'utf8')
    // Static imports and re-exports only: dynamic import() is how optional drivers stay optional.
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec))
      else bare.add(spec)
    }
  }
  visit(entry)
  return { files: [...files], bare: [...bare] }
}

describe('package entry', () => {
  it('dist exists (npm test builds first)', () => {
    expect(existsSync(join(dist, 'index.js')), 'run `npm run build`').toBe(true)
  })

  it('the root graph imports nothing but devalue: no bun:, no node natives, no drivers', () => {
    const { bare } = staticGraph(join(dist, 'index.js'))
    expect(bare.sort()).toEqual(['devalue'])
  })

  it('fluxflow/otel imports @opentelemetry/api and nothing else outside the package', () => {
    const { bare } = staticGraph(join(dist, 'otel.js'))
    expect(bare.sort()).toEqual(['@opentelemetry/api'])
  })

  it('loads in a plain node process and runs a workflow', () => {
    const script = `
      const { createWorkflow, FluxEngine, Flux } = await import(${JSON.stringify(join(dist, 'index.js'))})
      const flow = createWorkflow('n').step('a', (ctx) => { ctx.data.ok = true }).step('w', () => Flux.wait('go'))
      const engine = new FluxEngine()
      const r = await engine.execute(flow, {})
      const d = await engine.signal(flow, r.id, 'go')
      console.log(JSON.stringify([r.status, d.status, d.data, typeof globalThis.Bun]))
      await engine.close()`
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(JSON.parse(out.trim())).toEqual(['suspended', 'completed', { ok: true }, 'undefined'])
  })

  it('loads under Bun', () => {
    const bun = join(root, 'node_modules', '.bin', 'bun')
    const script = `const m = await import(${JSON.stringify(join(dist, 'index.js'))}); const e = new m.FluxEngine(); const r = await e.execute(m.createWorkflow('b').step('a', (c) => { c.data.v = 1 }), {}); console.log(JSON.stringify([r.status, r.data, typeof Bun]))`
    const out = execFileSync(bun, ['-e', script], { encoding: 'utf8' })
    expect(JSON.parse(out.trim())).toEqual(['completed', { v: 1 }, 'object'])
  })

  it('package.json exports point at built files with types', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    for (const [key, target] of Object.entries<Record<string, string> | string>(pkg.exports)) {
      if (typeof target === 'string') continue
      expect(existsSync(join(root, target.default!)), `${key} → ${target.default}`).toBe(true)
      expect(existsSync(join(root, target.types!)), `${key} → ${target.types}`).toBe(true)
    }
  })
})
