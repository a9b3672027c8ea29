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
  unset: string[]
  replaced: boolean
}

type Data = Record<string, unknown>

/** One attempt's handle on `ctx.data`; it stays bound to its own copy after the attempt is over. */
export interface AttemptData {
  readonly view: Data
  replace(value: unknown): void
}

export class DataTracker {
  #committed: Data
  #work: Data
  #touched = new Set<string>()
  #replaced = false
  #proxy: Data

  constructor(committed: Data) {
    this.#committed = committed
    this.#work = committed
    this.#proxy = this.#wrap(committed)
  }

  /** The committed data (what storage holds after the last checkpoint). */
  get committed(): Data {
    return this.#committed
  }

  /** Starts an attempt: a fresh view over a shallow copy of the committed data. */
  begin(): AttemptData {
    this.#work = { ...this.#committed }
    this.#touched = new Set()
    this.#replaced = false
    this.#proxy = this.#wrap(this.#work)
    return this.#handle()
  }

  /** A handle on the current view (for `when` and hooks, which run between attempts). */
  current(): AttemptData {
    return this.#handle()
  }

  #handle(): AttemptData {
    const work = this.#work
    let view = this.#proxy
    return {
      get view() {
        return view
      },
      replace: (value: unknown) => {
        if (this.#work === work) {
          this.replace(value)
          view = this.#proxy
        } else {
          // A late write from an abandoned attempt: keep it on its own detached copy.
          view = checkData(value)
        }
      },
    }
  }

  /** `ctx.data = value`. */
  replace(value: unknown): void {
    this.#work = checkData(value)
    this.#replaced = true
    this.#proxy = this.#wrap(this.#work)
  }

  /** True if the attempt read or wrote anything. */
  get dirty(): boolean {
    return this.#replaced || this.#touched.size > 0
  }

  /** What the attempt changed (the touched keys' current values). */
  patch(): DataPatch {
    const set: Data = {}
    const unset: string[] = []
    if (this.#replaced) {
      for (const key of Object.keys(this.#work)) set[key] = this.#work[key]
      return { set, unset, replaced: true }
    }
    for (const key of this.#touched) {
      if (Object.hasOwn(this.#work, key)) set[key] = this.#work[key]
      else unset.push(key)
    }
    return { set, unset, replaced: false }
  }

  /** The attempt succeeded and its patch is stored: its data becomes the committed data. */
  commit(): void {
    this.#committed = this.#work
    this.#touched = new Set()
    this.#replaced = false
  }

  /** The attempt failed: drop it and adopt `fresh` (rebuilt from storage) as the committed data. */
  reset(fresh: Data): void {
    this.#committed = fresh
    this.#work = fresh
    this.#touched = new Set()
    this.#replaced = false
    this.#proxy = this.#wrap(fresh)
  }

  #wrap(target: Data): Data {
    // Marks only while `target` is the live attempt's copy: an abandoned attempt marks nothing.
    const touched = () => this.#touched
    const mark = (key: string | symbol) => {
      if (typeof key === 'string' && target === this.#work) touched().add(key)
    }
    return new Proxy(target, {
      get(t, key, receiver) {
        mark(key)
        return Reflect.get(t, key, receiver)
      },
      set(t, key, value, receiver) {
        mark(key)
        return Reflect.set(t, key, value, receiver)
      },
      deleteProperty(t, key) {
        mark(key)
        return Reflect.deleteProperty(t, key)
      },
      defineProperty(t, key, descriptor) {
        mark(key)
        return Reflect.defineProperty(t, key, descriptor)
      },
      getOwnPropertyDescriptor(t, key) {
        mark(key)
        return Reflect.getOwnPropertyDescriptor(t, key)
      },
    })
  }
}

function checkData(value: unknown): Data {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('ctx.data must be a plain object')
  }
  return value as Data
}
