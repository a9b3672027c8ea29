// fluxflow viewer: a static page with no framework and no build step. This module routes
// (`#/` the list, `#/run/<id>[/step/<n>]` a run) and starts the page.
//
// Every value that comes from a run (ids, names, errors, data) reaches the DOM as a text node
// or through textContent, never as markup: no module here parses HTML (see dom.js), and the
// server's Content-Security-Policy forbids inline script, so a step named `<img onerror=…>` is
// shown as those characters and nothing runs. Links are built from '#' plus encodeURIComponent.

import { api, banner, fill, h, main } from './dom.js'
import { timeline } from './graph.js'
import { listParams, renderListPage, runsUrl } from './list.js'
import { renderRunPage } from './run.js'
import { ACTIVE, route, state, stopFollowing } from './state.js'

async function render() {
  banner(null)
  const r = route()
  try {
    if (r.page === 'run') await renderRunPage(r.id, r.step)
    else await renderListPage(r.params)
  } catch (error) {
    stopFollowing()
    fill(
      main(),
      h(
        'div',
        { class: 'panel' },
        h('p', { class: 'result error', text: error.message }),
        h('a', { href: '#/', text: '← All runs' }),
      ),
    )
  }
}

// ---------------------------------------------------------------- start

async function start() {
  // The first page of the list is asked for at once, beside the server info, not after it.
  const first = route()
  if (first.page === 'list') {
    const key = listParams(first.params).toString()
    const promise = api(runsUrl(key))
    promise.catch(() => undefined)
    state.prefetched = { key, promise }
  }
  try {
    state.info = await api('api/info')
    document.getElementById('source').textContent =
      `${state.info.source === 'db' ? 'database' : 'trace'}: ${state.info.label}`
    document.title = `fluxflow — ${state.info.label}`
  } catch (error) {
    banner(`Cannot reach the viewer API: ${error.message}`)
    return
  }
  setInterval(() => {
    const panel = document.getElementById('timeline-panel')
    if (panel && state.run && ACTIVE.has(state.run.run.status))
      fill(panel, [h('h2', { text: 'Timeline' }), timeline(state.run)])
  }, 1000)
  window.addEventListener('hashchange', () => {
    void render()
  })
  await render()
}

void start()
