/**
 * `ctx.data` for one attempt, and what changed in it.
 *
 * Each attempt works on a shallow copy of the committed data behind a Proxy that records which
 * top-level keys the handler read or wrote (any nested change needs a read of its top-level key
 * first). The checkpoint stores only those keys, so a step's write is proportional to what it
 * touched, not to the size of `ctx.data`.
 *
 * A failed or timed-out attempt may have mutated nested objects it shares with the committed
 * copy, and may keep writing after it was abandoned; so after a failure the committed data is
 * rebuilt from the stored checkpoints (the engine calls {@link DataTracker.reset}), and the
 * abandoned attempt keeps only detached objects.
 */

export interface DataPatch {
  set: Record<string, unknown>
  /** Keys in `set`. */
  count: number
  /** Keys deleted; undefined when none (the common case allocates nothing for it). */
  unset: string[] | undefined
  replaced: boolean
}

type Data = Record<string, unknown>

/** One attempt's handle on `ctx.data`; it stays bound to its own copy after the attempt is over. */
export interface AttemptData {
  readonly view: Data
  replace(value: unknown): void
}

/**
 * The Proxy handler of one attempt, which is also its {@link AttemptData}: one object per
 * attempt instead of a closure per trap (this runs once per step of every run).
 */
class AttemptView implements ProxyHandler<Data>, AttemptData {
  readonly tracker: DataTracker
  work: Data
  view: Data
  /** Top-level keys read or written; small, so an array (a Set per attempt cost more). */
  readonly touched: string[] = []
  replaced = false

  constructor(tracker: DataTracker, work: Data) {
    this.tracker = tracker
    this.work = work
    this.view = new Proxy(work, this)
  }

  get live(): boolean {
    return this.tracker.current === this
  }

  replace(value: unknown): void {
    this.work = checkData(value)
    this.view = new Proxy(this.work, this)
    if (this.live) this.replaced = true
  }

  #mark(key: string | symbol): void {
    // Only the live attempt's reads count: an abandoned one changes nothing that is stored.
    if (typeof key === 'string' && this.tracker.current === this && !this.touched.includes(key))
      this.touched.push(key)
  }

  // Plain property access on the target (not Reflect with the proxy as receiver): a set through
  // the receiver would call back into `defineProperty` and cost a second trap per write.
  get(target: Data, key: string | symbol): unknown {
    this.#mark(key)
    return target[key as string]
  }
  set(target: Data, key: string | symbol, value: unknown): boolean {
    this.#mark(key)
    target[key as string] = value
    return true
  }
  deleteProperty(target: Data, key: string | symbol): boolean {
    this.#mark(key)
    return Reflect.deleteProperty(target, key)
  }
  defineProperty(target: Data, key: string | symbol, descriptor: PropertyDescriptor): boolean {
    this.#mark(key)
    return Reflect.defineProperty(target, key, descriptor)
  }
  getOwnPropertyDescriptor(target: Data, key: string | symbol): PropertyDescriptor | undefined {
    this.#mark(key)
    return Reflect.getOwnPropertyDescriptor(target, key)
  }
}

export class DataTracker {
  #committed: Data
  /** The attempt whose changes the next checkpoint stores. */
  current: AttemptView

  constructor(committed: Data) {
    this.#committed = committed
    this.current = new AttemptView(this, committed)
  }

  /** The committed data (what storage holds after the last checkpoint). */
  get committed(): Data {
    return this.#committed
  }

  /** Starts an attempt: a fresh view over a shallow copy of the committed data. */
  begin(): AttemptData {
    this.current = new AttemptView(this, { ...this.#committed })
    return this.current
  }

  /** The handle of the current view (for `when` and hooks, which run between attempts). */
  handle(): AttemptData {
    return this.current
  }

  /** True if the current attempt read or wrote anything. */
  get dirty(): boolean {
    return this.current.replaced || this.current.touched.length > 0
  }

  /** What the current attempt changed (the touched keys' current values). */
  patch(): DataPatch {
    const { work, touched, replaced } = this.current
    const set: Data = {}
    let unset: string[] | undefined
    let count = 0
    if (replaced) {
      for (const key in work) {
        set[key] = work[key]
        count++
      }
      return { set, count, unset, replaced: true }
    }
    for (const key of touched) {
      if (Object.hasOwn(work, key)) {
        set[key] = work[key]
        count++
      } else {
        unset ??= []
        unset.push(key)
      }
    }
    return { set, count, unset, replaced: false }
  }

  /** The attempt succeeded and its patch is stored: its data becomes the committed data. */
  commit(): void {
    this.#committed = this.current.work
    this.current.touched.length = 0
    this.current.replaced = false
  }

  /** The attempt failed: drop it and adopt `fresh` (rebuilt from storage) as the committed data. */
  reset(fresh: Data): void {
    this.#committed = fresh
    this.current = new AttemptView(this, fresh)
  }
}

function checkData(value: unknown): Data {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('ctx.data must be a plain object')
  }
  return value as Data
}
