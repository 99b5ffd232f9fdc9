// How a StreamReader's waiting read listens to its AbortSignal (internal). Created by the first
// read that waits with a signal, so that a reader whose reads never pass one holds nothing.
//
// - A user's signal is listened to only while the read waits: added when it parks, removed when
//   it settles (EventTarget skips a listener removed during the dispatch, e.g. by an earlier
//   listener that completed the read).
// - The owner's signal (a server connection's context.signal, which lives as long as the reader,
//   see _owned-signal.ts) has one listener, its OwnedSignal's: reads passing it add and remove
//   none, which saves an addEventListener/removeEventListener pair per read of a `{ signal }` loop.
import type { OwnedSignal } from './_owned-signal.js';
import { checkSignal } from './_validate.js';

/**
 * The signal a read was given, checked (`undefined` when none): the owner's (its state read
 * from a field, no getter) or a user's AbortSignal. Throws its reason when it already aborted.
 *
 * @example
 * ```ts
 * const signal = readSignal(options?.signal, this.#cancel); // before the read starts
 * ```
 */
export function readSignal(
  signal: AbortSignal | undefined,
  cancel: ReadCancel | null,
): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const owned = cancel?.owner;
  if (signal === owned?.signal) {
    if (owned.aborted) throw signal.reason;
    return signal;
  }
  checkSignal(signal);
  if (signal.aborted) throw signal.reason;
  return signal;
}

/**
 * True when a read passing `signal` may settle at once as one passing none: it passed none, or
 * the owner's signal before its abort (what cannot cancel a read that does not wait).
 *
 * @example
 * ```ts
 * if (noneOrLiveOwner(options?.signal, this.#cancel)) return this.#take(index + 1); // fast path
 * ```
 */
export function noneOrLiveOwner(
  signal: AbortSignal | undefined,
  cancel: ReadCancel | null,
): boolean {
  if (signal === undefined) return true;
  const owned = cancel?.owner;
  return signal === owned?.signal && !owned.aborted;
}

/** The abort side of a reader's pending read. */
export class ReadCancel {
  // Called when the signal of the waiting read aborts.
  readonly #abort: (reason: unknown) => void;
  // The signal of the waiting read, if it passed one.
  #waiting: AbortSignal | undefined = undefined;
  #owner: OwnedSignal | undefined = undefined;
  // The listener on a user's signal (on the owner's, a listener of its own).
  readonly #onAbort = (): void => this.#abort(this.#waiting!.reason);

  /** `abort` cancels the waiting read with its signal's reason. */
  constructor(abort: (reason: unknown) => void) {
    this.#abort = abort;
  }

  /** The signal of the waiting read (undefined when none waits, or it passed none). */
  get signal(): AbortSignal | undefined {
    return this.#waiting;
  }

  /** The owner's signal, if any. */
  get owner(): OwnedSignal | undefined {
    return this.#owner;
  }

  /** Makes `owned` the owner's signal: its abort cancels a read waiting with it; no listener. */
  own(owned: OwnedSignal): void {
    this.#owner = owned;
    owned.onAbort = () => {
      if (this.#waiting === owned.signal) this.#abort(owned.signal.reason);
    };
  }

  /** A read waits with `signal`. */
  watch(signal: AbortSignal): void {
    this.#waiting = signal;
    if (signal !== this.#owner?.signal) signal.addEventListener('abort', this.#onAbort);
  }

  /** The waiting read settled. */
  unwatch(): void {
    const signal = this.#waiting;
    if (signal === undefined) return;
    this.#waiting = undefined;
    if (signal !== this.#owner?.signal) signal.removeEventListener('abort', this.#onAbort);
  }
}
