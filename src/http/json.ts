/**
 * JSON in and out for the Fetch-API handler, with Web APIs only (`Request`, `Response`,
 * `TextDecoder`, `btoa`), so the root entry still loads on Node and on Bun.
 *
 * In: the body is read chunk by chunk and refused as soon as it passes the limit, so a client
 * cannot make the server buffer an unbounded upload. Out: run state holds what the serializer
 * round-trips (Dates, Maps, BigInts, cycles…), which `JSON.stringify` alone would drop or throw
 * on; {@link toJsonValue} turns it into plain JSON first, and a value that still cannot be
 * encoded becomes a 500 rather than an exception.
 */

/** A refusal with its HTTP status; the handler turns it into a JSON error response. */
export class HttpError extends Error {
  override name = 'HttpError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message)
  }
}

const RESPONSE_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
}

/** A JSON response; a body that cannot be encoded gives a 500, never a throw. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  let text: string
  try {
    text = JSON.stringify(toJsonValue(body)) ?? 'null'
  } catch {
    status = 500
    text = JSON.stringify({ error: 'The response could not be encoded as JSON', code: 'INTERNAL' })
  }
  return new Response(text, { status, headers: { ...headers, ...RESPONSE_HEADERS } })
}

/**
 * A stored value as plain JSON: `Date` → ISO string, `BigInt` → decimal string, `Map` → array of
 * `[key, value]` pairs, `Set` → array, bytes → base64, `RegExp` → its source text, `Error` →
 * `{name, message, code}` (no stack), `NaN`/`±Infinity` → null, functions and symbols dropped,
 * a reference back to an enclosing object → `"[Circular]"` (a value repeated elsewhere is kept).
 */
export function toJsonValue(value: unknown): unknown {
  const ancestors: object[] = []
  const walk = (v: unknown): unknown => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v
      case 'number':
        return Number.isFinite(v) ? v : null
      case 'bigint':
        return v.toString()
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined
    }
    if (v === null) return null
    const o = v as object
    if (ancestors.includes(o)) return '[Circular]'
    if (o instanceof Date) return Number.isNaN(o.getTime()) ? null : o.toISOString()
    if (o instanceof RegExp) return String(o)
    if (ArrayBuffer.isView(o)) return base64(new Uint8Array(o.buffer, o.byteOffset, o.byteLength))
    if (o instanceof ArrayBuffer) return base64(new Uint8Array(o))
    ancestors.push(o)
    try {
      if (Array.isArray(o)) return o.map((item) => walk(item) ?? null)
      if (o instanceof Map) return [...o].map(([k, item]) => [walk(k) ?? null, walk(item) ?? null])
      if (o instanceof Set) return [...o].map((item) => walk(item) ?? null)
      if (o instanceof Error) return errorJson(o)
      const toJSON = (o as { toJSON?: unknown }).toJSON
      if (typeof toJSON === 'function') return walk(toJSON.call(o))
      const entries: [string, unknown][] = []
      for (const key of Object.keys(o)) {
        const item = walk((o as Record<string, unknown>)[key])
        if (item !== undefined) entries.push([key, item])
      }
      // fromEntries defines own properties: a `__proto__` key stays data.
      return Object.fromEntries(entries)
    } finally {
      ancestors.pop()
    }
  }
  return walk(value)
}

/** An error as the API shows it: no stack, the `code` of a FluxError when it has one. */
export function errorJson(error: Error): { name: string; message: string; code?: string } {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string'
    ? { name: error.name, message: error.message, code }
    : { name: error.name, message: error.message }
}

function base64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/** True for `application/json` and `application/*+json`, whatever the parameters. */
export function isJsonMediaType(contentType: string): boolean {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase()
  return type === 'application/json' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(type)
}

/**
 * The raw body, at most `limit` bytes. A declared `Content-Length` over the limit is refused
 * before reading; a streamed body is refused as soon as it passes the limit (the stream is then
 * cancelled), so memory stays bounded either way.
 */
export async function readBodyBytes(request: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new HttpError(413, 'PAYLOAD_TOO_LARGE', `Request body is larger than ${limit} bytes`)
  const declared = request.headers.get('content-length')?.trim()
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > limit) throw tooLarge()
  if (request.body === null) return new Uint8Array(0)
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      // Not awaited: a source that is slow to cancel must not hold back the 413.
      void reader.cancel().catch(() => undefined)
      throw tooLarge()
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

/**
 * The JSON value of a body; `undefined` for an empty one. A body needs a JSON content type (415
 * otherwise), UTF-8 text (400) and valid JSON (400, with the parser's reason).
 */
export function parseJsonBody(bytes: Uint8Array, contentType: string | null): unknown {
  if (bytes.byteLength === 0) return undefined
  if (contentType === null || !isJsonMediaType(contentType))
    throw new HttpError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'Send the body as JSON with Content-Type: application/json',
    )
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'Request body is not valid UTF-8')
  }
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new HttpError(
      400,
      'INVALID_JSON',
      `Request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}
