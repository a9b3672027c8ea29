#!/usr/bin/env node
/**
 * The `flux` bin: `flux dev …` (the live viewer) and `flux runs …` (the same from a terminal).
 * See run-cli.ts; exit codes are listed in exit-codes.ts.
 */
import { runCli } from './run-cli.js'

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
})
process.exitCode = code
// Everything is closed by now; should a driver still hold the event loop open, do not hang the
// terminal (unref'd: it never delays a normal exit).
setTimeout(() => process.exit(code), 2_000).unref()
