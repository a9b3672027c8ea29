/**
 * Plain-text rendering for the terminal: aligned tables, short times and durations, and a run's
 * timeline as `flux runs show` prints it. No colours (logs and CI keep them as garbage); control
 * characters in stored strings are made visible so a step name cannot move the cursor.
 */
import type { RunDetailView, RunListView, StepView } from './view-model.js'

/** Replaces control characters (ANSI escapes, newlines in names) with visible escapes; keeps \n and \t. */
export function printable(text: string): string {
  let out = ''
  for (const char of text) {
    const code = char.charCodeAt(0)
    const control = (code < 0x20 && code !== 0x0a && code !== 0x09) || (code >= 0x7f && code <= 0x9f)
    out += control ? `\\u${code.toString(16).padStart(4, '0')}` : char
  }
  return out
}

function oneLine(text: string): string {
  return printable(text.replace(/\r?\n/g, ' ⏎ '))
}

/** A table with a header row; every cell on one line, columns padded. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  maxWidth = 48,
): string {
  const cells = [header, ...rows].map((row) =>
    row.map((cell) => {
      const text = oneLine(cell)
      return text.length > maxWidth ? `${text.slice(0, maxWidth - 1)}…` : text
    }),
  )
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)))
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** `2026-01-01 12:00:00` in local time (what a person at the terminal reads). */
export function formatTime(ms: number | null): string {
  if (ms === null) return '—'
  const d = new Date(ms)
  const pad = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  const m = Math.round(s / 60)
  if (m < 48 * 60) return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`
  return `${Math.round(m / 1440)} d`
}

/** The runs table of `flux runs list`. */
export function formatRunList(view: RunListView): string {
  if (view.runs.length === 0)
    return view.total === 0 ? 'No runs.' : `No runs on this page (${view.total} in all).`
  const rows = view.runs.map((r) => [
    r.id,
    r.workflow,
    r.status,
    r.step === null
      ? r.stepIndex >= r.stepCount
        ? '(done)'
        : '—'
      : `${r.stepIndex + 1}/${r.stepCount} ${r.step}`,
    formatTime(r.createdAt),
    formatTime(r.updatedAt),
  ])
  const first = view.offset + 1
  const last = view.offset + view.runs.length
  return `${table(['ID', 'WORKFLOW', 'STATUS', 'STEP', 'CREATED', 'UPDATED'], rows)}\n\n${first}–${last} of ${view.total}`
}

function stepNote(s: StepView): string {
  const notes: string[] = []
  if (s.status === 'suspended' && s.waitingFor !== null) notes.push(`waiting for signal "${s.waitingFor}"`)
  if (s.status === 'suspended' && s.waitingFor === null && s.wakeAt !== null)
    notes.push(`sleeping until ${formatTime(s.wakeAt)}`)
  if (s.status === 'running' && s.wakeAt !== null) notes.push(`backing off until ${formatTime(s.wakeAt)}`)
  if (s.compensation?.compensatedAt) notes.push(`compensated ${formatTime(s.compensation.compensatedAt)}`)
  if (s.error !== null) notes.push(`error: ${s.error}`)
  return notes.join('; ')
}

/** The timeline and details of `flux runs show`. */
export function formatRunDetail(view: RunDetailView): string {
  const r = view.run
  const lines: string[] = []
  const field = (name: string, value: string) => lines.push(`${`${name}:`.padEnd(13)}${oneLine(value)}`)
  field('Run', r.id)
  field('Workflow', r.version ? `${r.workflow} (version ${r.version})` : r.workflow)
  field('Status', r.status)
  field(
    'Step',
    r.step === null
      ? r.stepIndex >= r.stepCount
        ? 'all done'
        : '—'
      : `${r.stepIndex + 1}/${r.stepCount} ${r.step}`,
  )
  if (r.waitingFor !== null) field('Waiting for', `signal "${r.waitingFor}"`)
  if (r.wakeAt !== null) field('Wakes at', formatTime(r.wakeAt))
  field('Created', formatTime(r.createdAt))
  field('Updated', formatTime(r.updatedAt))
  if (r.completedAt !== null)
    field('Ended', `${formatTime(r.completedAt)} (after ${formatDuration(r.completedAt - r.createdAt)})`)
  if (r.leaseOwner !== null) field('Lease', `${r.leaseOwner} until ${formatTime(r.leaseExpiresAt)}`)
  if (r.compensate.length > 0) field('To undo', r.compensate.join(', '))
  lines.push('')
  const rows = view.steps.map((s) => [
    String(s.index + 1),
    s.kind === 'commit' ? `${s.name} (commit)` : s.name,
    s.status,
    s.startedAt === null ? '—' : `+${formatDuration(s.startedAt - view.timeline.start)}`,
    // A wait's handler returns at once; what matters is how long it stayed suspended.
    formatDuration(
      s.suspendedAt !== null || s.duration === null
        ? s.startedAt !== null && s.completedAt !== null
          ? s.completedAt - s.startedAt
          : null
        : s.duration,
    ),
    String(s.attempts),
    stepNote(s),
  ])
  lines.push(table(['#', 'STEP', 'STATUS', 'START', 'DURATION', 'ATTEMPTS', 'NOTE'], rows, 60))
  const failures = view.steps.flatMap((s) =>
    s.failedAttempts.map(
      (a) =>
        `  ${s.name} attempt ${a.attempt} at ${formatTime(a.at)}: ${oneLine(a.error)}${a.backoffUntil !== null ? ` — retry after ${formatDuration(a.backoffUntil - a.at)}` : ''}`,
    ),
  )
  if (failures.length > 0) lines.push('', 'Failed attempts:', ...failures)
  if (view.signals.received.length > 0 || view.signals.pending.length > 0) {
    lines.push('', 'Signals:')
    for (const s of view.signals.received)
      lines.push(`  received "${oneLine(s.name)}" at ${formatTime(s.at)}: ${oneLine(s.payload)}`)
    for (const s of view.signals.pending)
      lines.push(`  waiting in mailbox "${oneLine(s.name)}" since ${formatTime(s.at)}: ${oneLine(s.payload)}`)
  }
  lines.push('', 'Input:', indent(view.input))
  lines.push('', 'Data:', indent(view.data))
  if (view.error !== null) {
    lines.push('', 'Error:', indent(view.error.stack ?? `${view.error.name}: ${view.error.message}`))
  }
  return lines.join('\n')
}

function indent(text: string): string {
  return printable(text)
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n')
}
