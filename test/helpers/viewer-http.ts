/**
 * Raw HTTP for the server tests: `fetch` normalises paths (`/../x` → `/x`) and hides headers a
 * browser sets, so traversal and origin checks are tested with `node:http` as-is.
 */
import { request } from 'node:http'

/** A response, body as text. */
export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** Sends one request with the path and headers exactly as given. */
export function raw(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port: Number(port),
        path,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** A POST of JSON, as the page sends it (same origin) unless headers say otherwise. */
export function postJson(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const origin = new URL(url).origin
  return raw(url, path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Origin: origin,
      'Sec-Fetch-Site': 'same-origin',
      ...headers,
    },
    body: JSON.stringify(body),
  })
}

/** One server-sent event. */
export interface SseEvent {
  event: string
  data: any
}

/**
 * Opens an event stream and collects its events; `until` resolves with them once `done` says
 * enough arrived. `close()` ends the stream.
 */
export function openEvents(url: string, path: string, headers: Record<string, string> = {}) {
  const { hostname, port } = new URL(url)
  const events: SseEvent[] = []
  const waiters: (() => void)[] = []
  let buffer = ''
  let status = 0
  const req = request({ host: hostname, port: Number(port), path, headers }, (res) => {
    status = res.statusCode ?? 0
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      buffer += chunk
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let event = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('data: ')) data.push(line.slice(6))
        }
        if (data.length > 0) events.push({ event, data: JSON.parse(data.join('\n')) })
        for (const wake of waiters.splice(0)) wake()
        end = buffer.indexOf('\n\n')
      }
    })
  })
  req.on('error', () => undefined)
  req.end()
  return {
    events,
    get status() {
      return status
    },
    async until(done: (events: SseEvent[]) => boolean, timeoutMs = 10_000): Promise<SseEvent[]> {
      const deadline = Date.now() + timeoutMs
      while (!done(events)) {
        if (Date.now() > deadline)
          throw new Error(`no such events in time; got ${JSON.stringify(events.map((e) => e.event))}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 100)
        })
      }
      return events
    },
    close() {
      req.destroy()
    },
  }
}
