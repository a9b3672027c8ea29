/**
 * Helpers for crash tests: child processes that run an engine, are killed with SIGKILL at a
 * named point, and an append-only side-effect log to count what really ran.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/** The child scripts: one per store, both running test/crash/engine-child.mjs. */
export const SQLITE_CHILD = resolve(import.meta.dirname, '../crash/child.mjs')
export const PG_CHILD = resolve(import.meta.dirname, '../crash/pg-child.mjs')

export interface Effect {
  t: number
  pid: number
  run: string
  step: string
  attempt: number
  key?: string
  payload?: unknown
  /** The `nap` step of `mixed`: true when it put the run to sleep (its drive ends there). */
  slept?: boolean
}

export interface Child {
  proc: ChildProcess
  /** Resolves with the first output line starting with `prefix`. */
  waitFor(prefix: string, timeoutMs?: number): Promise<string>
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  output(): string
}

export function workspace(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `flux-crash-${name}-`))
  const db = join(dir, 'flux.db')
  const log = join(dir, 'effects.ndjson')
  const hang = join(dir, 'hang')
  return {
    dir,
    db,
    log,
    hang,
    /** The next child that reaches this point blocks there (until killed). */
    hangAt(point: string | null) {
      writeFileSync(hang, point ?? '')
    },
    effects(): Effect[] {
      if (!existsSync(log)) return []
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Effect)
    },
  }
}

export function startChild(options: Record<string, unknown>, script = SQLITE_CHILD): Child {
  const proc = spawn(process.execPath, [script, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const waiters: { prefix: string; resolve: (line: string) => void }[] = []
  const seen: string[] = []
  const onLine = (line: string) => {
    seen.push(line)
    for (const w of [...waiters]) {
      if (line.startsWith(w.prefix)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  }
  let buffer = ''
  proc.stdout!.on('data', (chunk: Buffer) => {
    out += chunk
    buffer += chunk
    let i = buffer.indexOf('\n')
    while (i >= 0) {
      onLine(buffer.slice(0, i))
      buffer = buffer.slice(i + 1)
      i = buffer.indexOf('\n')
    }
  })
  proc.stderr!.on('data', (chunk: Buffer) => {
    out += chunk
  })
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  return {
    proc,
    exited,
    output: () => out,
    waitFor(prefix, timeoutMs = 20_000) {
      const hit = seen.find((l) => l.startsWith(prefix))
      if (hit) return Promise.resolve(hit)
      return new Promise((resolvePromise, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`child never printed "${prefix}". Output:\n${out}`)),
          timeoutMs,
        )
        const done = (line: string) => {
          clearTimeout(timer)
          resolvePromise(line)
        }
        waiters.push({ prefix, resolve: done })
        void exited.then((code) => {
          if (waiters.some((w) => w.resolve === done)) {
            clearTimeout(timer)
            reject(new Error(`child exited (${code}) before printing "${prefix}". Output:\n${out}`))
          }
        })
      })
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      await exited
    },
  }
}

/** Runs a child to completion and returns its DONE payload. */
export async function runChild(
  options: Record<string, unknown>,
  script = SQLITE_CHILD,
  timeoutMs = 30_000,
): Promise<unknown> {
  const child = startChild(options, script)
  const line = await child.waitFor('DONE', timeoutMs)
  await child.exited
  return JSON.parse(line.slice('DONE '.length))
}

/** Effects of one run and step. */
export function count(effects: Effect[], run: string, step: string): Effect[] {
  return effects.filter((e) => e.run === run && e.step === step)
}
