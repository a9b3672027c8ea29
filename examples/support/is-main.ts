import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/** True when the module at `moduleUrl` is the script node/tsx was started with (not an import). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1]
  return entry !== undefined && pathToFileURL(resolve(entry)).href === moduleUrl
}
