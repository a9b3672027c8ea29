/**
 * A minimal abort handle for one drive. An `AbortController` per run costs more than the rest of
 * a three-step in-memory run put together (EventTarget bookkeeping), and a drive needs only
 * this: a flag, a reason, and callbacks.
 */
import type { AbortLike } from '../clock.js'

/** Calls `listener` once on abort (at once if already aborted); `onAbort` returns an unsubscribe. */
export type Abortable = AbortLike

export class DriveControl implements Abortable {
  aborted = false
  reason: unknown
  #listeners: (() => void)[] | undefined

  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    const listeners = this.#listeners
    this.#listeners = undefined
    if (listeners) for (const listener of listeners) listener()
  }

  onAbort(listener: () => void): () => void {
    if (this.aborted) {
      listener()
      return () => {}
    }
    this.#listeners ??= []
    const list = this.#listeners
    list.push(listener)
    return () => {
      const i = list.indexOf(listener)
      if (i >= 0) list.splice(i, 1)
    }
  }
}

/** Adapts an `AbortSignal` (engine closing, worker stopping) to {@link Abortable}. */
export function fromSignal(signal: AbortSignal): Abortable {
  return {
    get aborted() {
      return signal.aborted
    },
    get reason() {
      return signal.reason
    },
    onAbort(listener) {
      if (signal.aborted) {
        listener()
        return () => {}
      }
      signal.addEventListener('abort', listener, { once: true })
      return () => signal.removeEventListener('abort', listener)
    },
  }
}
