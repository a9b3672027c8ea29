/**
 * `flux runs list|show|retry|signal|cancel --db …`: the viewer's reads and actions from a
 * terminal. Tables for people, `--json` for scripts, and exit codes that mean something
 * (exit-codes.ts): 0 done, 1 refused, 2 usage, 3 not found, 4 database unreachable.
 */
import { parseArgs } from 'node:util'
import { parseStatuses, parseTime } from './api.js'
import { CliError, EXIT, usage } from './exit-codes.js'
import { formatRunDetail, formatRunList } from './format.js'
import { openStore } from './open-store.js'
import { StoreSource } from './source.js'
import type { ListQuery } from './view-model.js'

/** Where a command writes. */
export interface CliIo {
  stdout(text: string): void
  stderr(text: string): void
  env: Readonly<Record<string, string | undefined>>
}

/** `flux runs --help`. */
export const RUNS_HELP = `Usage: flux runs <command> --db <sqlite path | postgres url> [options]

Commands:
  list                      runs, newest first
  show <id>                 a run: its steps as a timeline, signals, input, data, error
  retry <id>                reset a failed/ended run to pending from a step; a worker runs it
  signal <id> <name>        store a signal for the run; a worker continues it
  cancel <id>               cancel a run that has not ended

Options:
  --db <target>             SQLite file or postgres://user@host:5432/db (or FLUX_DB)
  --schema <name>           Postgres schema (or ?schema=name in the URL; default fluxflow)
  --json                    print JSON for scripts
  list:   --workflow <name> --status <s[,s]> --id <prefix> --since <time> --before <time>
          --limit <n> (default 20) --offset <n>
  retry:  --from <step name> (default: where it stopped)  --recommit (run completed commits again)
  signal: --payload <json>
  cancel: --reason <text>

Exit codes: 0 ok, 1 refused (e.g. "Workflow is not suspended"), 2 usage, 3 not found,
4 database unreachable or not a fluxflow database.`

const OPTIONS = {
  db: { type: 'string' },
  schema: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  workflow: { type: 'string' },
  status: { type: 'string' },
  id: { type: 'string' },
  since: { type: 'string' },
  before: { type: 'string' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  from: { type: 'string' },
  recommit: { type: 'boolean' },
  payload: { type: 'string' },
  reason: { type: 'string' },
} as const

type Values = ReturnType<typeof parse>['values']

/** Which options each command takes (the rest are a usage error, not silently ignored). */
const ALLOWED: Record<string, readonly (keyof typeof OPTIONS)[]> = {
  list: ['workflow', 'status', 'id', 'since', 'before', 'limit', 'offset'],
  show: [],
  retry: ['from', 'recommit'],
  signal: ['payload'],
  cancel: ['reason'],
}
const ARITY: Record<string, number> = { list: 0, show: 1, retry: 1, signal: 2, cancel: 1 }

function parse(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true })
}

/** Runs `flux runs …`; resolves with the exit code. */
export async function runsCommand(args: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(args)
  } catch (error) {
    throw usage(`${(error as Error).message}\n\n${RUNS_HELP}`)
  }
  const { values, positionals } = parsed
  const [command, ...operands] = positionals
  if (values.help || command === undefined || command === 'help') {
    io.stdout(RUNS_HELP)
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok
  }
  const allowed = ALLOWED[command]
  if (allowed === undefined) throw usage(`Unknown command "flux runs ${command}"\n\n${RUNS_HELP}`)
  for (const key of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (!['db', 'schema', 'json', 'help', ...allowed].includes(key))
      throw usage(`--${key} does not apply to "flux runs ${command}"`)
  }
  if (operands.length !== ARITY[command]) {
    const wanted = { show: '<id>', retry: '<id>', signal: '<id> <name>', cancel: '<id>', list: '' }[command]
    throw usage(`Usage: flux runs ${command} ${wanted} --db <target>`.trimEnd())
  }
  const db = values.db ?? io.env.FLUX_DB
  if (db === undefined || db === '')
    throw usage('Which database? Pass --db <sqlite path | postgres url> (or set FLUX_DB)')
  const payload = command === 'signal' ? parsePayloadOption(values.payload) : undefined
  const query = command === 'list' ? listQuery(values) : undefined

  const opened = await openStore(db, { schema: values.schema })
  const source = new StoreSource(opened.store, { label: opened.label, onClose: opened.close })
  try {
    const print = (human: string, json: unknown) =>
      io.stdout(values.json ? JSON.stringify(json, null, 2) : human)
    const [id = '', name = ''] = operands
    switch (command) {
      case 'list': {
        const view = await source.list(query!)
        print(formatRunList(view), view)
        return EXIT.ok
      }
      case 'show': {
        const view = await source.run(id)
        if (!view) throw notFound(id)
        print(formatRunDetail(view), view)
        return EXIT.ok
      }
      case 'retry': {
        const result = await source.actions.retry(id, {
          ...(values.from !== undefined ? { fromStep: values.from } : {}),
          recommit: values.recommit === true,
        })
        print(result.message, result)
        return EXIT.ok
      }
      case 'signal': {
        const result = await source.actions.signal(id, name, payload)
        print(result.message, result)
        return EXIT.ok
      }
      default: {
        const result = await source.actions.cancel(id, values.reason)
        print(result.message, result)
        return EXIT.ok
      }
    }
  } finally {
    await source.close()
  }
}

function notFound(id: string): CliError {
  return new CliError(`No run with id "${id}"`, EXIT.notFound)
}

function parsePayloadOption(text: string | undefined): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    throw usage(
      `--payload is not valid JSON: ${(error as Error).message} (quote it: --payload '{"by":"me"}')`,
    )
  }
}

function listQuery(values: Values): ListQuery {
  const number = (text: string | undefined, name: string, fallback: number, min: number) => {
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < min)
      throw usage(`--${name} must be a whole number ≥ ${min}, not "${text}"`)
    return n
  }
  const query: ListQuery = {
    limit: number(values.limit, 'limit', 20, 1),
    offset: number(values.offset, 'offset', 0, 0),
  }
  try {
    if (values.workflow) query.workflow = values.workflow
    if (values.status) query.statuses = parseStatuses(values.status)
    if (values.id) query.idPrefix = values.id
    if (values.since) query.from = parseTime(values.since, '--since')
    if (values.before) query.to = parseTime(values.before, '--before')
  } catch (error) {
    throw usage((error as Error).message)
  }
  return query
}
