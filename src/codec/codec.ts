/**
 * Serialization of run state, through `devalue` (chosen over superjson: 2.5× faster to encode
 * small objects and 3× on a 100 KB document here, output ~40% smaller thanks to value
 * de-duplication, and it reports the path of a value it cannot store; see bench/codec.ts).
 *
 * devalue covers Date, Map, Set, BigInt, typed arrays, undefined, NaN/±Infinity/-0, RegExp, URL,
 * and repeated/cyclic references. We add `Buffer` (revived as a Buffer, not a bare Uint8Array)
 * and `Error` (name, message, stack, code, cause), plus any codecs the user registers.
 */
import { DevalueError, parse, stringify } from 'devalue'
import { SerializationError } from '../errors.js'

/** A user codec for a class the default serializer does not know. */
export interface TypeCodec<T = unknown> {
  /** True for values this codec handles. */
  test(value: unknown): boolean
  /** To something devalue can store (plain data, Dates, Maps…). */
  encode(value: T): unknown
  decode(encoded: any): T
}

/** What the engine needs from a serializer. `encode` throws `SerializationError` naming the path. */
export interface Serializer {
  encode(value: unknown, label?: string): string
  decode(text: string): unknown
}

/** Options of {@link createSerializer}. */
export interface SerializerOptions {
  /** Extra codecs, by a stable type name stored with the value. */
  codecs?: Record<string, TypeCodec<any>>
}

type Reducers = Record<string, (value: unknown) => unknown>
type Revivers = Record<string, (value: any) => unknown>

const NodeBuffer: { isBuffer(v: unknown): boolean; from(v: Uint8Array): Uint8Array } | undefined = (
  globalThis as { Buffer?: any }
).Buffer

function builtinReducers(): Reducers {
  const reducers: Reducers = {
    Error: (value) =>
      value instanceof Error && {
        name: value.name,
        message: value.message,
        stack: value.stack,
        code: (value as { code?: unknown }).code,
        cause: (value as { cause?: unknown }).cause,
      },
  }
  if (NodeBuffer)
    reducers.Buffer = (value) => NodeBuffer.isBuffer(value) && new Uint8Array(value as Uint8Array)
  return reducers
}

function builtinRevivers(): Revivers {
  return {
    Error: (fields: { name: string; message: string; stack?: string; code?: unknown; cause?: unknown }) => {
      const error = new Error(
        fields.message,
        fields.cause === undefined ? undefined : { cause: fields.cause },
      )
      error.name = fields.name
      if (fields.stack !== undefined) error.stack = fields.stack
      if (fields.code !== undefined) (error as { code?: unknown }).code = fields.code
      return error
    },
    Buffer: (bytes: Uint8Array) => (NodeBuffer ? NodeBuffer.from(bytes) : bytes),
  }
}

/** Turns devalue's `.user.save` / `[0].get("k")` path into `data.user.save`. */
function labelPath(label: string, path: string): string {
  return `${label}${path}`
}

/** Creates a serializer; the default one is {@link defaultSerializer}. */
export function createSerializer(options: SerializerOptions = {}): Serializer {
  const reducers = builtinReducers()
  const revivers = builtinRevivers()
  for (const [name, codec] of Object.entries(options.codecs ?? {})) {
    if (name in reducers) throw new TypeError(`Codec name "${name}" is reserved`)
    reducers[name] = (value) => codec.test(value) && [codec.encode(value)]
    revivers[name] = ([encoded]: [unknown]) => codec.decode(encoded)
  }
  // User codecs must win over the Error reducer for their own Error subclasses: devalue tries
  // reducers in insertion order, so move the built-in Error reducer last.
  const errorReducer = reducers.Error!
  delete reducers.Error
  reducers.Error = errorReducer

  return {
    encode(value, label = 'value') {
      if (isPlainJson(value)) {
        // A plain object's JSON starts with `{`, which devalue's output never does: it needs no
        // mark (checkpoint bodies, the common case, skip a string concatenation).
        const json = JSON.stringify(value)
        return json.charCodeAt(0) === OPEN_BRACE ? json : JSON_MARK + json
      }
      try {
        return stringify(value, reducers)
      } catch (error) {
        if (error instanceof DevalueError) {
          throw new SerializationError(labelPath(label, error.path), describe(error.message), {
            cause: error,
          })
        }
        throw new SerializationError(label, error instanceof Error ? error.message : String(error), {
          cause: error,
        })
      }
    },
    decode(text) {
      const first = text.charCodeAt(0)
      if (first === OPEN_BRACE) return JSON.parse(text)
      return first === JSON_MARK_CODE ? JSON.parse(text.slice(1)) : parse(text, revivers)
    },
  }
}

/**
 * Fast path: a value that plain JSON round-trips exactly (plain objects and arrays, strings,
 * booleans, null, finite numbers other than -0, no `undefined`, no shared or cyclic references)
 * is stored as JSON — prefixed with `~` unless it is an object (whose `{` devalue never starts
 * with). `JSON.stringify` is native and 4× faster than devalue on the small
 * step records and data patches of a typical run; everything else goes through devalue.
 */
const JSON_MARK = '~'
const JSON_MARK_CODE = 0x7e
const OPEN_BRACE = 0x7b
// Objects visited by the current check (a repeated one is a shared reference or a cycle, which
// JSON would not preserve). A small array beats a Set for the handful a step record holds.
const seen: object[] = []
let seenSet: Set<object> | undefined

function isPlainJson(value: unknown): boolean {
  try {
    return plain(value, 0)
  } finally {
    seen.length = 0
    seenSet = undefined
  }
}

function visit(value: object): boolean {
  if (seenSet) {
    // One hash probe instead of has() + add(): the size grows only for an object not seen yet.
    const size = seenSet.size
    return seenSet.add(value).size !== size
  }
  if (seen.includes(value)) return false
  seen.push(value)
  if (seen.length > 32) seenSet = new Set(seen)
  return true
}

function plain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0)
    case 'object':
      return value === null || plainObject(value, depth)
    default:
      return false
  }
}

// Strings, the most common leaf, are skipped without a call. An array hole reads `undefined`,
// which `plain` refuses, so holes need no `in` test of their own.
function plainObject(value: object, depth: number): boolean {
  if (depth > 64 || !visit(value)) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      if (typeof item !== 'string' && !plain(item, depth + 1)) return false
    }
    return true
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  if (Object.getOwnPropertySymbols(value).length > 0) return false
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key]
    if (typeof item !== 'string' && !plain(item, depth + 1)) return false
  }
  return true
}

function describe(message: string): string {
  if (message.includes('non-POJO')) {
    return 'it is a class instance the serializer has no codec for (register one with `serializer: createSerializer({ codecs })`)'
  }
  if (message.includes('function')) return 'functions cannot be stored'
  if (message.includes('Symbol')) return 'symbols cannot be stored'
  return message
}

/** The serializer the engine uses unless `serializer` is configured. */
export const defaultSerializer: Serializer = createSerializer()
