// DOM building without HTML parsing, formatting, and the API client.
//
// `h` and `s` are the only way the page makes elements: text goes in as text nodes, attributes
// only from an allowlist, links only to '#…' routes. Nothing here (or elsewhere) sets innerHTML.

export const SVG_NS = 'http://www.w3.org/2000/svg'

// ---------------------------------------------------------------- DOM helpers

/** Creates an element. `props`: class, text, title, href ('#…' only), data-*, on* handlers, safe attributes. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag)
  applyProps(el, props)
  append(el, children)
  return el
}

/** Creates an SVG element with attributes. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else el.setAttribute(key, String(value))
  }
  append(el, children)
  return el
}

export const SAFE_ATTRIBUTES = new Set([
  'type',
  'name',
  'value',
  'placeholder',
  'id',
  'for',
  'role',
  'list',
  'min',
  'max',
  'rows',
  'tabindex',
  'aria-label',
  'aria-live',
  'aria-current',
  'autocomplete',
  'spellcheck',
])

export function applyProps(el, props) {
  if (!props) return
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'class') el.className = value
    else if (key === 'text') el.textContent = String(value)
    else if (key === 'title') el.title = String(value)
    else if (key === 'href') {
      // Only in-page routes: a stored value can never become a javascript: URL.
      if (!String(value).startsWith('#')) throw new Error('only # links')
      el.setAttribute('href', value)
    } else if (key === 'checked' || key === 'disabled' || key === 'selected' || key === 'hidden')
      el[key] = Boolean(value)
    else if (key.startsWith('data-')) el.setAttribute(key, String(value))
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (SAFE_ATTRIBUTES.has(key)) el.setAttribute(key, String(value))
    else throw new Error(`attribute ${key} is not allowed`)
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove()
}

/** Replaces an element's children. */
export function fill(el, children) {
  clear(el)
  append(el, [children])
}

export function main() {
  return document.getElementById('main')
}

// ---------------------------------------------------------------- formatting

export function pad(n, w = 2) {
  return String(n).padStart(w, '0')
}

export function formatTime(ms) {
  if (ms === null || ms === undefined) return '—'
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 10 && ms !== Math.round(ms)) return `${ms.toFixed(1)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const sec = Math.round(ms / 1000)
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${pad(sec % 60)} s`
  const min = Math.round(sec / 60)
  if (min < 2880) return `${Math.floor(min / 60)} h ${pad(min % 60)} min`
  return `${Math.round(min / 1440)} d`
}

export function ago(ms) {
  const diff = Date.now() - ms
  if (diff < 0) return `in ${formatDuration(-diff)}`
  if (diff < 5000) return 'just now'
  // Coarse on purpose: a list column, not a stopwatch (the exact time is in the tooltip).
  if (diff < 60_000) return `${Math.round(diff / 1000)} s ago`
  if (diff < 3_600_000) return `${Math.round(diff / 60_000)} min ago`
  if (diff < 172_800_000) return `${Math.round(diff / 3_600_000)} h ago`
  return `${Math.round(diff / 86_400_000)} d ago`
}

export function badge(status) {
  return h('span', { class: `badge s-${status}`, 'data-status': status, text: status.replace('_', ' ') })
}

export function timeCell(ms) {
  return h('span', { title: formatTime(ms), text: ago(ms) })
}

// ---------------------------------------------------------------- API

export async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options })
  let body = null
  const type = response.headers.get('content-type') ?? ''
  if (type.includes('application/json')) body = await response.json()
  else body = { error: await response.text() }
  if (!response.ok) throw new Error(body?.error ?? `HTTP ${response.status}`)
  return body
}

export function post(path, payload) {
  return api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(payload),
  })
}

export function banner(message) {
  const el = document.getElementById('banner')
  el.textContent = message ?? ''
  el.hidden = !message
}
