/**
 * Internal: add listeners to EventEmitters (node:events, eventemitter3) and EventTargets through
 * one recorder, so that cleanup removes exactly what was added (Node's `listenersController`).
 *
 * @internal
 * @module
 */

/** A listener as this library registers it; it ignores what it does not need. */
export type AnyListener = (...args: unknown[]) => void;

/**
 * The EventEmitter shape the adapters accept: `node:events`, eventemitter3, a Node stream, or
 * anything with `on` and one of `off` / `removeListener`.
 *
 * @example
 * ```ts
 * const emitter: EmitterLike = new EventEmitter();
 * ```
 */
export interface EmitterLike {
  /** Adds a listener. */
  on(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
  /** Removes a listener (preferred when present). */
  off?(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
  /** Removes a listener (the older name). */
  removeListener?(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
}

/**
 * The EventTarget shape the adapters accept (DOM-style `addEventListener`).
 *
 * @example
 * ```ts
 * const target: EventTargetLike = new EventTarget();
 * ```
 */
export interface EventTargetLike {
  /** Adds a listener. */
  addEventListener(type: string, listener: (event: Event) => void, options?: object): void;
  /** Removes a listener. */
  removeEventListener(type: string, listener: (event: Event) => void, options?: object): void;
}

/**
 * Either kind of event source.
 *
 * @example
 * ```ts
 * const sources: EventSourceLike[] = [new EventEmitter(), new EventTarget()];
 * ```
 */
export type EventSourceLike = EmitterLike | EventTargetLike;

/** True for an EventEmitter-style object (checked first, as Node's `on()` does). */
export function isEmitterLike(value: unknown): value is EmitterLike {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const candidate = value as Partial<EmitterLike>;
  return (
    typeof candidate.on === 'function' &&
    (typeof candidate.off === 'function' || typeof candidate.removeListener === 'function')
  );
}

/** True for a DOM-style EventTarget. */
export function isEventTargetLike(value: unknown): value is EventTargetLike {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const candidate = value as Partial<EventTargetLike>;
  return (
    typeof candidate.addEventListener === 'function' &&
    typeof candidate.removeEventListener === 'function'
  );
}

/** Adds a listener to either kind of source. */
function addListener(source: EventSourceLike, event: string | symbol, listener: AnyListener): void {
  if (isEmitterLike(source)) source.on(event, listener);
  else source.addEventListener(event as string, listener);
}

/** Removes a listener from either kind of source. */
function removeListener(
  source: EventSourceLike,
  event: string | symbol,
  listener: AnyListener,
): void {
  if (isEmitterLike(source)) {
    if (typeof source.off === 'function') source.off(event, listener);
    else source.removeListener?.(event, listener);
  } else {
    source.removeEventListener(event as string, listener);
  }
}

/**
 * Records every listener it adds so that `removeAll()` removes exactly those, once.
 *
 * @internal
 * @example
 * ```ts
 * const listeners = new ListenersController();
 * listeners.add(emitter, 'data', onData);
 * listeners.add(signal, 'abort', onAbort);
 * listeners.removeAll(); // both gone; a second call does nothing
 * ```
 */
export class ListenersController {
  /** Every listener currently added through this controller, in the order added. */
  readonly #added: Array<[EventSourceLike, string | symbol, AnyListener]> = [];

  /** How many listeners are currently added. */
  get size(): number {
    return this.#added.length;
  }

  /** Adds `listener` for `event` on `source` and records it. */
  add(source: EventSourceLike, event: string | symbol, listener: AnyListener): void {
    addListener(source, event, listener);
    this.#added.push([source, event, listener]);
  }

  /** Removes the listeners added after the first `mark` ones (`mark` = an earlier `size`). */
  removeSince(mark: number): void {
    while (this.#added.length > mark) {
      const entry = this.#added.pop()!;
      removeListener(entry[0], entry[1], entry[2]);
    }
  }

  /** Removes every recorded listener (last added first). Idempotent. */
  removeAll(): void {
    let entry;
    while ((entry = this.#added.pop()) !== undefined) removeListener(entry[0], entry[1], entry[2]);
  }
}
