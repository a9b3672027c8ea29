/**
 * The `flux` command, as a function: parses the first word, runs the subcommand, and turns
 * every failure into a message on stderr and a meaningful exit code. `main.ts` is the bin that
 * calls it; tests call it in-process.
 */
import { readFileSync } from 'node:fs'
import { devCommand } from './dev-command.js'
import { EXIT, exitCodeOf, messageOf } from './exit-codes.js'
import { type CliIo, runsCommand } from './runs-command.js'

export type { CliIo } from './runs-command.js'

/** `flux --help`. */
export const HELP = `Usage: flux <command> [options]

Commands:
  dev --db <target>       live viewer of a database (SQLite file or postgres:// URL)
  dev --trace <file>      live viewer of an NDJSON trace file
  runs list|show|retry|signal|cancel --db <target>
                          the same reads and actions from the terminal

Run "flux dev --help" or "flux runs --help" for their options.`

/** The package version, read from package.json beside dist/ (or src/). */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string
    }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

/** Runs `flux <argv>`; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  const json = rest.includes('--json')
  try {
    switch (command) {
      case 'dev':
        return await devCommand(rest, io)
      case 'runs':
        return await runsCommand(rest, io)
      case '--version':
      case '-v':
        io.stdout(version())
        return EXIT.ok
      case '--help':
      case '-h':
      case 'help':
        io.stdout(HELP)
        return EXIT.ok
      case undefined:
        io.stderr(HELP)
        return EXIT.usage
      default:
        io.stderr(`flux: unknown command "${command}"\n\n${HELP}`)
        return EXIT.usage
    }
  } catch (error) {
    const code = exitCodeOf(error)
    const message = messageOf(error)
    io.stderr(json ? JSON.stringify({ error: message, exitCode: code }) : `flux: ${message}`)
    return code
  }
}
