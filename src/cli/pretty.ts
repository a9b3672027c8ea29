/**
 * A readable, JSON-ish rendering of any value the codec stores (Date, Map, Set, BigInt,
 * Uint8Array, undefined, NaN, RegExp, URL, Error, cycles), for the viewer and the terminal.
 *
 * The output is plain text: the page puts it in the DOM with `textContent`, never as markup, so
 * nothing here escapes HTML. What it does guarantee is that rendering never throws and never
 * runs user code (no `toString`/`toJSON`/getters are called), and that the text stays bounded.
 */

/** Options of {@link pretty}. */
export interface PrettyOptions {
  /** Render on one line. Default false: nested values go on their own indented lines. */
  compact?: boolean
  /** Longest text returned; longer output is cut with a note. Default 64 KiB. */
  maxLength?: number
  /** Deeper values are shown as `…`. Default 12. */
  maxDepth?: number
  /** Arrays, Maps, Sets and objects list this many entries, then `… N more`. Default 200. */
  maxEntries?: number
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/
/** A nested value shorter than this stays on one line even in multi-line mode. */
const INLINE_WIDTH = 72

interface Context {
  compact: boolean
  maxDepth: number
  maxEntries: number
  /** Objects on the path from the root: a cycle points back into it. */
  path: Set<object>
}

/** Renders a value as readable text. Never throws. */
export function pretty(value: unknown, options: PrettyOptions = {}): string {
  const ctx: Context = {
    compact: options.compact ?? false,
    maxDepth: options.maxDepth ?? 12,
    maxEntries: options.maxEntries ?? 200,
    path: new Set(),
  }
  let text: string
  try {
    text = render(value, ctx, 0, '')
  } catch (error) {
    text = `[unrenderable: ${error instanceof Error ? error.message : String(error)}]`
  }
  const max = options.maxLength ?? 65_536
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text
}

function render(value: unknown, ctx: Context, depth: number, indent: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value)
    case 'bigint':
      return `${value}n`
    case 'boolean':
      return String(value)
    case 'undefined':
      return 'undefined'
    case 'symbol':
      return `Symbol(${value.description ?? ''})`
    case 'function':
      return `[Function ${value.name || 'anonymous'}]`
  }
  if (value === null) return 'null'
  const object = value as object
  if (ctx.path.has(object)) return '[Circular]'
  if (object instanceof Date) {
    const time = object.getTime()
    return Number.isNaN(time) ? 'Date(Invalid)' : `Date(${new Date(time).toISOString()})`
  }
  if (object instanceof RegExp) return `/${object.source}/${object.flags}`
  if (object instanceof URL) return `URL(${object.href})`
  if (ArrayBuffer.isView(object)) return bytes(object)
  if (object instanceof Error) return errorText(object)
  if (depth >= ctx.maxDepth) return Array.isArray(object) ? '[…]' : '{…}'
  ctx.path.add(object)
  try {
    if (object instanceof Map) {
      const items = [...object.entries()].map(
        ([k, v]) =>
          `${render(k, ctx, depth + 1, next(indent))} => ${render(v, ctx, depth + 1, next(indent))}`,
      )
      return block(`Map(${object.size}) {`, '}', items, ctx, indent, object.size)
    }
    if (object instanceof Set) {
      const items = [...object].map((v) => render(v, ctx, depth + 1, next(indent)))
      return block(`Set(${object.size}) [`, ']', items, ctx, indent, object.size)
    }
    if (Array.isArray(object)) {
      const items: string[] = []
      const shown = Math.min(object.length, ctx.maxEntries)
      for (let i = 0; i < shown; i++)
        items.push(i in object ? render(object[i], ctx, depth + 1, next(indent)) : '<empty>')
      return block('[', ']', items, ctx, indent, object.length)
    }
    // Own enumerable data only: reading descriptors never calls a getter.
    const keys = Object.keys(object)
    const items: string[] = []
    for (const key of keys.slice(0, ctx.maxEntries)) {
      const descriptor = Object.getOwnPropertyDescriptor(object, key)
      const shown =
        descriptor && 'value' in descriptor
          ? render(descriptor.value, ctx, depth + 1, next(indent))
          : '[Getter]'
      items.push(`${IDENTIFIER.test(key) ? key : JSON.stringify(key)}: ${shown}`)
    }
    const proto = Object.getPrototypeOf(object) as { constructor?: { name?: unknown } } | null
    const name = proto && proto !== Object.prototype ? proto.constructor?.name : undefined
    const open = typeof name === 'string' && name !== '' && name !== 'Object' ? `${name} {` : '{'
    return block(open, '}', items, ctx, indent, keys.length)
  } finally {
    ctx.path.delete(object)
  }
}

function next(indent: string): string {
  return `${indent}  `
}

/** Joins rendered entries, on one line when short or compact, else one per line. */
function block(
  open: string,
  close: string,
  items: string[],
  ctx: Context,
  indent: string,
  total: number,
): string {
  if (total > items.length) items.push(`… ${total - items.length} more`)
  if (items.length === 0) return `${open}${close}`
  const spaced = open.endsWith('{') || open.endsWith('[') ? ' ' : ''
  const inline = `${open}${spaced}${items.join(', ')}${spaced}${close}`
  if (ctx.compact || (inline.length <= INLINE_WIDTH && !inline.includes('\n'))) return inline
  const inner = next(indent)
  return `${open}\n${items.map((item) => `${inner}${item}`).join(',\n')}\n${indent}${close}`
}

function bytes(view: ArrayBufferView): string {
  const name = (view.constructor as { name?: string }).name ?? 'Bytes'
  const array = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
  const shown = Math.min(array.length, 32)
  const hex: string[] = []
  for (let i = 0; i < shown; i++) hex.push(array[i]!.toString(16).padStart(2, '0'))
  const more = array.length > shown ? ` … ${array.length - shown} more` : ''
  return `${name}(${view.byteLength}) [${hex.join(' ')}${more}]`
}

function errorText(error: Error): string {
  const own = Object.getOwnPropertyDescriptor(error, 'message')
  const message = own && typeof own.value === 'string' ? own.value : ''
  const nameDesc = Object.getOwnPropertyDescriptor(error, 'name')
  const name = nameDesc && typeof nameDesc.value === 'string' ? nameDesc.value : error.constructor.name
  return `${name}(${JSON.stringify(message)})`
}

/** How one top-level key of `ctx.data` changed between two states. */
export interface DataChange {
  key: string
  kind: 'added' | 'changed' | 'removed'
  /** Rendered value before (absent for `added`). */
  before?: string
  /** Rendered value after (absent for `removed`). */
  after?: string
}

/**
 * Top-level keys added, changed or removed from `before` to `after`, in the order of `keys`
 * (the keys that may have changed; all keys of both when absent). Values are compared by their
 * rendering, so two equal Maps or Dates count as unchanged.
 */
export function diffData(
  before: Readonly<Record<string, unknown>>,
  after: Readonly<Record<string, unknown>>,
  keys?: Iterable<string>,
): DataChange[] {
  const candidates = new Set(keys ?? [...Object.keys(before), ...Object.keys(after)])
  const changes: DataChange[] = []
  for (const key of candidates) {
    const had = Object.hasOwn(before, key)
    const has = Object.hasOwn(after, key)
    if (!had && !has) continue
    if (!had) {
      changes.push({ key, kind: 'added', after: pretty(after[key]) })
    } else if (!has) {
      changes.push({ key, kind: 'removed', before: pretty(before[key]) })
    } else if (before[key] !== after[key]) {
      const a = pretty(before[key])
      const b = pretty(after[key])
      if (a !== b) changes.push({ key, kind: 'changed', before: a, after: b })
    }
  }
  return changes
}
