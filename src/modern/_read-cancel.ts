// How a StreamReader's waiting read listens to its AbortSignal (internal). Created by the first
// read that waits with a signal, so that a reader whose reads never pass one holds nothing.
//
// - A user's signal is listened to only while the read waits: added when it parks, removed when
//   it settles (EventTarget skips a listener removed during the dispatch, e.g. by an earlier
//   listener that completed the read).
// - The owner's signal (a server connection's context.signal, which lives as long as the reader)
//   has one listener, added once by own(): reads passing it add and remove none, which saves an
//   addEventListener/removeEventListener pair per read of a `{ signal }` loop.

/** The abort side of a reader's pending read. */
export class ReadCancel {
  // Called when the signal of the waiting read aborts.
  readonly #abort: () => void;
  // The signal of the waiting read, if it passed one.
  #waiting: AbortSignal | undefined = undefined;
  #owner: AbortSignal | undefined = undefined;
  // The listener on a user's signal (on the owner's, a listener of its own).
  readonly #onAbort = (): void => this.#abort();

  /** `abort` cancels the waiting read (with {@link signal}'s reason). */
  constructor(abort: () => void) {
    this.#abort = abort;
  }

  /** The signal of the waiting read (undefined when none waits, or it passed none). */
  get signal(): AbortSignal | undefined {
    return this.#waiting;
  }

  /** Makes `signal` the owner's: one listener now, none per read. */
  own(signal: AbortSignal): void {
    this.#owner = signal;
    signal.addEventListener(
      'abort',
      () => {
        if (this.#waiting === signal) this.#abort();
      },
      { once: true },
    );
  }

  /** A read waits with `signal`. */
  watch(signal: AbortSignal): void {
    this.#waiting = signal;
    if (signal !== this.#owner) signal.addEventListener('abort', this.#onAbort);
  }

  /** The waiting read settled. */
  unwatch(): void {
    const signal = this.#waiting;
    if (signal === undefined) return;
    this.#waiting = undefined;
    if (signal !== this.#owner) signal.removeEventListener('abort', this.#onAbort);
  }
}
