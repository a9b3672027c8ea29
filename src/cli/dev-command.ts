/**
 * `flux dev`: the live viewer over a trace file (`--trace`, the origin's use, same defaults:
 * port 4280 on 127.0.0.1) or over live storage (`--db`).
 */
import { parseArgs } from 'node:util'
import { CliError, EXIT, messageOf, usage } from './exit-codes.js'
import { openStore } from './open-store.js'
import type { CliIo } from './runs-command.js'
import { isLoopback, startViewerServer, type ViewerServer } from './server.js'
import { StoreSource, type ViewerSource } from './source.js'
import { TraceSource } from './trace-source.js'

/** `flux dev --help`. */
export const DEV_HELP = `Usage: flux dev (--db <sqlite path | postgres url> | --trace <file.ndjson>) [options]

Serves a live view of workflow runs: a list with filters, each run's timeline, data
before/after each step, signals, errors, and the workflow graph.

Options:
  --db <target>        read live storage: a SQLite file, or postgres://user@host:5432/db
  --schema <name>      Postgres schema (or ?schema=name in the URL; default fluxflow)
  --trace <file>       read an NDJSON trace file (JsonFileTraceSink), following it as it grows
  --port <n>           default 4280 (0 picks a free port)
  --host <addr>        default 127.0.0.1; any other address requires --token
  --token <secret>     every request must carry it (or FLUX_TOKEN); open the printed URL once
  --allow-actions      let the page retry, signal and cancel runs (off by default)
  --poll <ms>          how often open pages are refreshed (default 500)`

/** A running `flux dev`. */
export interface DevSession {
  server: ViewerServer
  source: ViewerSource
  /** The URL to open (with the token when one is set). */
  url: string
  close(): Promise<void>
}

/** Parses the options, opens the source and starts the server. */
export async function startDev(args: string[], io: CliIo): Promise<DevSession> {
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse(args).values
  } catch (error) {
    throw usage(`${messageOf(error)}\n\n${DEV_HELP}`)
  }
  if (values.db !== undefined && values.trace !== undefined) throw usage('Pass --db or --trace, not both')
  if (values.db === undefined && values.trace === undefined)
    throw usage(`What should the viewer show?\n\n${DEV_HELP}`)
  const port = integer(values.port, '--port', 4280, 0, 65_535)
  const pollMs = integer(values.poll, '--poll', 500, 50, 60_000)
  const host = values.host ?? '127.0.0.1'
  const token = values.token ?? io.env.FLUX_TOKEN
  if (!isLoopback(host) && (token === undefined || token === ''))
    throw usage(
      `--host ${host} makes the viewer reachable from other machines: pass --token <secret> too (every request must then carry it)`,
    )
  if (token !== undefined && token !== '' && token.length < 12)
    throw usage('--token is too short to protect anything: use at least 12 characters')

  let source: ViewerSource
  if (values.trace !== undefined) {
    const trace = new TraceSource(values.trace)
    await trace.start()
    source = trace
  } else {
    const opened = await openStore(values.db!, { schema: values.schema })
    source = new StoreSource(opened.store, { label: opened.label, onClose: opened.close })
  }
  let server: ViewerServer
  try {
    server = await startViewerServer({
      source,
      host,
      port,
      token,
      allowActions: values['allow-actions'] === true,
      pollMs,
      onError: (error) => io.stderr(`flux dev: ${messageOf(error)}`),
    })
  } catch (error) {
    await source.close()
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw usage(`Port ${port} on ${host} is in use: pass --port <n> (0 picks a free one)`)
    throw new CliError(`Cannot serve on ${host}:${port}: ${messageOf(error)}`, EXIT.refused, { cause: error })
  }
  const url = token ? `${server.url}?token=${encodeURIComponent(token)}` : server.url
  return {
    server,
    source,
    url,
    async close() {
      await server.close()
      await source.close()
    },
  }
}

/** `flux dev`: serves until SIGINT/SIGTERM, then closes everything. */
export async function devCommand(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(DEV_HELP)
    return EXIT.ok
  }
  const session = await startDev(args, io)
  const actions = session.source.actions !== undefined && args.includes('--allow-actions')
  io.stdout(
    [
      `flux dev: ${session.source.kind === 'db' ? 'database' : 'trace file'} ${session.source.label}`,
      `  open ${session.url}`,
      session.source.kind === 'trace'
        ? '  read-only (a trace file)'
        : actions
          ? '  actions ON: the page can retry, signal and cancel runs'
          : '  actions off (start with --allow-actions to retry, signal and cancel from the page)',
      '  Ctrl+C to stop',
    ].join('\n'),
  )
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await session.close()
  return EXIT.ok
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      db: { type: 'string' },
      schema: { type: 'string' },
      trace: { type: 'string' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      token: { type: 'string' },
      'allow-actions': { type: 'boolean' },
      poll: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

function integer(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max)
    throw usage(`${name} must be a whole number from ${min} to ${max}, not "${text}"`)
  return n
}
