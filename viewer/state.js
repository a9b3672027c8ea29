// What the page remembers between renders, the live event stream, and the routes.

import { banner } from './dom.js'

export const state = {
  info: null,
  /** Workflow names for the filter. */
  workflows: [],
  /** The open event stream and what it follows. */
  stream: null,
  streamKey: '',
  /** Run page: the last detail received, the selected step, open checkpoint details. */
  run: null,
  runId: null,
  selected: null,
  openCheckpoints: new Set(),
  firstListRendered: false,
  /** The first list page, fetched while the rest starts. */
  prefetched: null,
}

/** Runs whose timeline reaches "now": still moving, or waiting (how long matters). */
export const ACTIVE = new Set(['pending', 'running', 'rolling_back', 'suspended'])

/** The action forms of the run page, kept across live updates. */
export const actionRefs = {}

/** Follows one event stream at a time; `handlers` maps event names to callbacks. */
export function follow(url, handlers) {
  if (state.stream && state.streamKey === url) return
  stopFollowing()
  const stream = new EventSource(url)
  state.stream = stream
  state.streamKey = url
  const live = document.getElementById('live')
  stream.onopen = () => {
    live.className = 'live on'
    live.title = 'live updates: connected'
  }
  stream.onerror = () => {
    live.className = 'live offline'
    live.title = 'live updates: reconnecting'
  }
  for (const [name, handler] of Object.entries(handlers)) {
    stream.addEventListener(name, (event) => handler(JSON.parse(event.data)))
  }
  stream.addEventListener('problem', (event) =>
    banner(`Live update failed: ${JSON.parse(event.data).message}`),
  )
}

export function stopFollowing() {
  state.stream?.close()
  state.stream = null
  state.streamKey = ''
}

// ---------------------------------------------------------------- routing

export function route() {
  const hash = location.hash.replace(/^#/, '') || '/'
  const [path, search = ''] = hash.split('?')
  const parts = path.split('/').filter(Boolean)
  if (parts[0] === 'run' && parts[1] !== undefined) {
    const step = parts[2] === 'step' && parts[3] !== undefined ? Number(parts[3]) : null
    return { page: 'run', id: decodeURIComponent(parts[1]), step: Number.isInteger(step) ? step : null }
  }
  return { page: 'list', params: new URLSearchParams(search) }
}

export function runHref(id, step) {
  return `#/run/${encodeURIComponent(id)}${step === null || step === undefined ? '' : `/step/${step}`}`
}
