// A connection's own AbortSignal (its context.signal), with its state mirrored in a plain field
// (internal). The reader and the writer of the connection compare a signal they are passed with
// it, and then read the field instead of the signal: Node's AbortSignal gets a hidden class of its
// own per instance, so with 10,000 connections every `instanceof`, `signal.aborted` and
// addEventListener() on them is a megamorphic lookup and a cache miss, per read and per drain.

/** The owner's signal and whether it has aborted (exact: its listener is the signal's first). */
export class OwnedSignal {
  readonly signal: AbortSignal;
  /** True once `signal` aborted (set by the signal's first listener, before any other runs). */
  aborted = false;
  /** Called once when `signal` aborts, after `aborted` is set (the reader's cancel). */
  onAbort: (() => void) | undefined = undefined;

  /** Call before anyone else listens to `signal` (see {@link aborted}). */
  constructor(signal: AbortSignal) {
    this.signal = signal;
    this.aborted = signal.aborted;
    signal.addEventListener(
      'abort',
      () => {
        this.aborted = true;
        this.onAbort?.();
      },
      { once: true },
    );
  }
}
