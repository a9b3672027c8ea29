// Sums vitest JSON reports and bun test's text summary into "passed failed" for .ci/run.
// Arguments: any number of files; *.json are vitest reports, anything else bun test output.
import { existsSync, readFileSync } from 'node:fs'

let passed = 0
let failed = 0
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) {
    failed += 1
    continue
  }
  const text = readFileSync(file, 'utf8')
  if (file.endsWith('.json')) {
    const report = JSON.parse(text)
    passed += report.numPassedTests ?? 0
    const bad = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0)
    failed += bad === 0 && report.success === false ? 1 : bad
  } else {
    const pass = /^\s*(\d+) pass\b/m.exec(text)
    const fail = /^\s*(\d+) fail\b/m.exec(text)
    passed += pass ? Number(pass[1]) : 0
    failed += fail ? Number(fail[1]) : pass ? 0 : 1
  }
}
console.log(`${passed} ${failed}`)
