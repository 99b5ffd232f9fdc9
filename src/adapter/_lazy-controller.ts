// An AbortController made on first use, as an object (internal; the mixed server's connections and
// their shadows): one AbortSlot (see _core/lazy-abort.ts) behind the AbortController's own
// methods, so that the runner and the routing can share it.
import type { Address } from '../address.js';
import type { ConnectionContext } from '../modern/server.js';
import {
  abortSlot,
  controllerOf,
  NOT_ABORTED,
  slotAborted,
  type AbortSlot,
} from '../_core/lazy-abort.js';

export class LazyController {
  #slot: AbortSlot = NOT_ABORTED;

  /** The controller (made now if it does not exist yet, aborted if abort() came first). */
  get controller(): AbortController {
    return (this.#slot = controllerOf(this.#slot));
  }

  /** The controller's signal (made now if need be). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether it was aborted, without making the controller. */
  get aborted(): boolean {
    return slotAborted(this.#slot);
  }

  /** Aborts with `reason` (the first abort wins), without making the controller. */
  abort(reason: unknown): void {
    this.#slot = abortSlot(this.#slot, reason);
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
