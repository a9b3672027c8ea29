/**
 * Why devalue: encode/decode cost and size of the run state the engine stores, devalue vs
 * superjson vs plain JSON (the floor, which cannot store Dates, Maps, BigInt…), plus the codec's
 * JSON fast path as fluxflow uses it.
 */
import * as devalue from 'devalue'
import superjson from 'superjson'
import { defaultSerializer } from '../src/codec/codec.js'
import { largeDocument } from './sqlite-floor.js'

interface Row {
  case: string
  codec: string
  encodeUs: number
  decodeUs: number
  bytes: number
}

function time(fn: () => unknown, rounds: number): number {
  for (let i = 0; i < Math.min(rounds, 200); i++) fn()
  const t = performance.now()
  for (let i = 0; i < rounds; i++) fn()
  return ((performance.now() - t) / rounds) * 1000
}

export function codecBench(): Row[] {
  const small = { order: { id: 'o-1', total: 42, items: [{ sku: 'a', qty: 1 }] }, ok: true }
  const typed = { at: new Date(0), counts: new Map([['x', 1n]]), tags: new Set(['a']), missing: undefined }
  const doc = JSON.parse(largeDocument())
  const rows: Row[] = []
  for (const [name, value, rounds] of [
    ['small step data', small, 50_000],
    ['typed data (Date, Map, BigInt, Set)', typed, 50_000],
    ['100 KB document', doc, 200],
  ] as const) {
    const codecs: [string, (v: unknown) => string, (s: string) => unknown][] = [
      [
        'fluxflow (devalue + JSON fast path)',
        (v) => defaultSerializer.encode(v),
        (s) => defaultSerializer.decode(s),
      ],
      ['devalue', (v) => devalue.stringify(v), (s) => devalue.parse(s)],
      ['superjson', (v) => superjson.stringify(v), (s) => superjson.parse(s)],
    ]
    if (name !== 'typed data (Date, Map, BigInt, Set)')
      codecs.push(['JSON (floor; loses types)', (v) => JSON.stringify(v), (s) => JSON.parse(s)])
    for (const [codec, encode, decode] of codecs) {
      const text = encode(value)
      rows.push({
        case: name,
        codec,
        encodeUs: time(() => encode(value), rounds),
        decodeUs: time(() => decode(text), rounds),
        bytes: text.length,
      })
    }
  }
  return rows
}

export function printCodec(rows: Row[]): void {
  console.log('\nSerializer (µs per call; bytes of output)')
  console.log('| case | codec | encode µs | decode µs | bytes |')
  console.log('|---|---|---|---|---|')
  for (const r of rows)
    console.log(
      `| ${r.case} | ${r.codec} | ${r.encodeUs.toFixed(2)} | ${r.decodeUs.toFixed(2)} | ${r.bytes.toLocaleString('en-US')} |`,
    )
}
