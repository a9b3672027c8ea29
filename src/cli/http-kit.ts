/**
 * The viewer server's HTTP plumbing: the security headers (and the CSP), what counts as
 * loopback, token digests, and JSON bodies in and out.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { BadRequestError } from './api.js'
import { messageOf } from './exit-codes.js'

/** No inline script or style, nothing from elsewhere, no framing. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** Sent with every response of the viewer. */
export const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

/** Largest action body accepted (an action is a few fields and a JSON payload). */
export const MAX_BODY = 1024 * 1024

/** True for names and addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h)
}

/**
 * A signal payload as typed by a person: JSON text (empty means no payload). Parsed here so a
 * typo gets a 400 that says what is wrong, rather than a signal carrying a string.
 */
export function parsePayload(payload: unknown): unknown {
  if (payload === undefined || payload === null) return undefined
  if (typeof payload !== 'string') throw new BadRequestError('payload must be JSON text')
  if (payload.trim() === '') return undefined
  try {
    return JSON.parse(payload)
  } catch (error) {
    throw new BadRequestError(`Payload is not valid JSON: ${messageOf(error)}`)
  }
}

/** Reads a JSON object body; anything else is a 400 with the reason. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) throw new BadRequestError('Request body too large')
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new BadRequestError(`Request body is not valid JSON: ${messageOf(error)}`)
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new BadRequestError('Request body must be a JSON object')
  return value as Record<string, unknown>
}

/** SHA-256 of a token: equal-length buffers for `timingSafeEqual`, whatever was presented. */
export function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** `decodeURIComponent` that keeps malformed text as it is. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** A JSON response with the security headers, never cached. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(text),
  })
  res.end(text)
}

/** A plain-text response with the security headers, never cached. */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(text),
  })
  res.end(text)
}
