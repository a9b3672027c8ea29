// Sums vitest's JSON report and bun test's summary into "passed failed" for .ci/run.
import { existsSync, readFileSync } from 'node:fs'

const [vitestJson, bunText] = process.argv.slice(2)
let passed = 0
let failed = 0
if (vitestJson && existsSync(vitestJson)) {
  const report = JSON.parse(readFileSync(vitestJson, 'utf8'))
  passed += report.numPassedTests ?? 0
  failed += (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0)
  if (report.success === false && failed === 0) failed = 1
} else {
  failed += 1
}
if (bunText && existsSync(bunText)) {
  const text = readFileSync(bunText, 'utf8')
  const pass = /^\s*(\d+) pass\b/m.exec(text)
  const fail = /^\s*(\d+) fail\b/m.exec(text)
  passed += pass ? Number(pass[1]) : 0
  failed += fail ? Number(fail[1]) : pass ? 0 : 1
}
console.log(`${passed} ${failed}`)
