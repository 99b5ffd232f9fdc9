// An AbortController made on first use (internal; used by asDispatcherClass() and the mixed
// server). An AbortController with its signal costs ~800 bytes of heap, more than the rest of an
// idle connection's adapter state, and most handlers never look at `context.signal`: until
// someone asks for the signal, an abort only records its reason, and the controller made later
// starts aborted with that reason. Once made, the controller is the source of truth (the runner
// may abort it directly: an idle timeout, a refusal).
import type { Address } from '../address.js';
import type { ConnectionContext } from '../modern/server.js';

export class LazyController {
  #controller: AbortController | undefined = undefined;
  // Before the controller exists: whether abort() ran, and with what reason.
  #aborted = false;
  #reason: unknown = undefined;

  /** The controller (made now if it does not exist yet, aborted if abort() came first). */
  get controller(): AbortController {
    let controller = this.#controller;
    if (controller === undefined) {
      controller = new AbortController();
      if (this.#aborted) controller.abort(this.#reason);
      this.#controller = controller;
      this.#reason = undefined;
    }
    return controller;
  }

  /** The controller's signal (made now if need be). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether it was aborted, without making the controller. */
  get aborted(): boolean {
    const controller = this.#controller;
    return controller === undefined ? this.#aborted : controller.signal.aborted;
  }

  /** Aborts with `reason` (the first abort wins), without making the controller. */
  abort(reason: unknown): void {
    const controller = this.#controller;
    if (controller !== undefined) {
      controller.abort(reason);
      return;
    }
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
  }
}

/** Where a {@link LazyContext}'s signal comes from (a LazyController, or an object that is one). */
export interface SignalSource {
  readonly signal: AbortSignal;
}

/** A handler's `ConnectionContext` whose `signal` is made on first use. */
export class LazyContext implements ConnectionContext {
  readonly id: number;
  readonly remoteAddress: Address;
  // Set only for the mixed server's runs (absent otherwise, as in startServer's contexts).
  declare readonly shadow?: boolean;
  readonly #lazy: SignalSource;

  constructor(id: number, remoteAddress: Address, lazy: SignalSource, shadow?: boolean) {
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.#lazy = lazy;
    if (shadow !== undefined) (this as { shadow?: boolean }).shadow = shadow;
  }

  /** Aborted when the connection closes (or the handler is stopped). */
  get signal(): AbortSignal {
    return this.#lazy.signal;
  }
}
