import { StatsCounter, type ConnectionStats, type Counted } from '../_core/stats.js';
import {
  kAdd,
  kAfterRound,
  kBeginLoop,
  kBetweenRounds,
  kGeneration,
  NOT_A_MEMBER,
  kCollect,
  kDelete,
  kEndRound,
  kEndLoop,
  kInRound,
  kSlowHandlerMs,
  kReady,
  kRoundEnd,
  kStats,
  kTouch,
  kWait,
} from './_internal.js';

// closeAll() closes what handleClose() created meanwhile too, for at most this many passes.
const CLOSE_ALL_PASSES = 100;
import type { Dispatcher } from './dispatcher.js';
import { InvalidStateError } from '../errors.js';
import { kFail } from './_handlers.js';

// A dispatcher's end-of-round step; what it throws goes to its handleError(), not to the loop.
function roundEnd(dispatcher: Dispatcher): void {
  try {
    dispatcher[kRoundEnd]();
  } catch (error) {
    dispatcher[kFail](error);
  }
}

/**
 * The set of dispatchers one `loop()` drives (asyncore's `socket_map`).
 *
 * A dispatcher joins its map when it gets a transport (`new Dispatcher({ socket })`, `connect()`,
 * `bind()`, `createSocket()`) and leaves it on `close()`. `loop({ map })` resolves once the map
 * is empty. Most programs use the default {@link socketMap}; tests and embedders create their own
 * so that independent servers do not share a loop.
 *
 * @example
 * ```ts
 * const map = new SocketMap();
 * const server = new EchoServer({ map });
 * await server.listen();
 * const done = loop({ map });
 * // ... later
 * map.closeAll(); // every dispatcher closes, the map empties, `done` resolves
 * await done;
 * ```
 */
export class SocketMap implements Iterable<Dispatcher> {
  // Source of truth for membership; insertion order is the dispatch order within a round.
  #dispatchers = new Set<Dispatcher>();
  // Resolver of the loop's pending wait, or null when the loop is not waiting.
  #waker: (() => void) | null = null;
  // Between rounds (kBetweenRounds): a wake before this time (performance.now()) is left to the
  // pending immediate; 0 when the loop is not between rounds.
  #notBefore = 0;
  #immediatePending = false;
  #onImmediate = (): void => {
    this.#immediatePending = false;
    if (this.#notBefore === 0) return;
    this.#notBefore = 0;
    this.#wakeLoop();
  };
  // The dispatchers whose predicates the next round asks (DESIGN: O(ready) rounds): those with an
  // event of their own, those ready in the last round; everyone after wake() (#sweep). Each one
  // once: a dispatcher's candidacy remembers the generation it was listed in (a field check per
  // touch; with 10,000 connections a Set's hashing cost more than the rest of the touch).
  #candidates: Dispatcher[] = [];
  #spare: Dispatcher[] = [];
  #generation = 1;
  #sweep = true;
  #looping = false;
  // The dispatchers whose kRoundEnd runs once the current round's handlers have run, in order.
  #afterRound: Dispatcher[] = [];
  /** @internal See `_internal.ts`: set by `loop()` while it dispatches a round. */
  [kInRound] = false;
  /** @internal See `_internal.ts`. */
  [kSlowHandlerMs]: number | undefined = undefined;
  /** @internal See `_internal.ts`. */
  readonly [kStats] = new StatsCounter(() => socketsOf(this.#dispatchers));

  /**
   * A snapshot of the counters of the connections that joined this map: accepted (attached),
   * active, closed, refused (by a full accept queue), bytesIn, bytesOut, handlerErrors.
   *
   * @example
   * ```ts
   * const { active, handlerErrors } = socketMap.stats();
   * ```
   */
  stats(): ConnectionStats {
    return this[kStats].snapshot();
  }

  /** How many dispatchers are in the map. */
  get size(): number {
    return this.#dispatchers.size;
  }

  /** Whether `dispatcher` is in this map. */
  has(dispatcher: Dispatcher): boolean {
    return this.#dispatchers.has(dispatcher);
  }

  /** Whether a `loop()` is currently running on this map. */
  get looping(): boolean {
    return this.#looping;
  }

  /** The dispatchers of the map, in the order a round dispatches them. */
  [Symbol.iterator](): Iterator<Dispatcher> {
    return this.#dispatchers.values();
  }

  /**
   * Close every dispatcher in the map (asyncore `close_all`); each runs its `handleClose()` (once)
   * as `close()` does. A dispatcher created meanwhile (a `handleClose()` that reconnects) is
   * closed too: it repeats until the map is empty, at most 100 passes; whatever a runaway
   * `handleClose()` still creates after that stays in the map, open. A running `loop()` resolves
   * once the map is empty.
   *
   * @example
   * ```ts
   * process.once('SIGINT', () => socketMap.closeAll());
   * ```
   */
  closeAll(): void {
    for (let pass = 0; pass < CLOSE_ALL_PASSES && this.#dispatchers.size > 0; pass++) {
      for (const dispatcher of [...this.#dispatchers]) dispatcher.close();
    }
    this.wake();
  }

  /**
   * Make a waiting `loop()` start a round now and ask every predicate again.
   *
   * Transport events (data, end-of-stream, drain, a new connection) wake the loop by themselves.
   * Call this after changing state that a `readable()` / `writable()` override depends on from
   * outside a handler (a timer, a promise, another map's loop); asyncore would only notice at
   * the next `timeout`.
   *
   * @example
   * ```ts
   * setTimeout(() => { handler.paused = false; socketMap.wake(); }, 100);
   * ```
   */
  wake(): void {
    this.#sweep = true;
    this.#wakeLoop();
  }

  #wakeLoop(): void {
    const waker = this.#waker;
    if (waker === null) return;
    if (this.#notBefore !== 0) {
      if (performance.now() < this.#notBefore) return;
      this.#notBefore = 0;
    }
    this.#waker = null;
    waker();
  }

  /** @internal See `_internal.ts`; `wakeLoop` false: only remember it (ready last round). */
  [kTouch](dispatcher: Dispatcher, wakeLoop = true): void {
    const generation = dispatcher[kGeneration];
    // Not in the map (deleted, or never added): a round would skip it anyway.
    if (generation !== this.#generation && generation !== NOT_A_MEMBER) {
      dispatcher[kGeneration] = this.#generation;
      this.#candidates.push(dispatcher);
    }
    if (wakeLoop) this.#wakeLoop();
  }

  /** @internal See `_internal.ts`. */
  [kCollect](ready: Dispatcher[], sweep = false): void {
    if (sweep || this.#sweep) {
      this.#sweep = false;
      this.#candidates.length = 0;
      this.#generation++;
      for (const dispatcher of this.#dispatchers) if (dispatcher[kReady]()) ready.push(dispatcher);
      return;
    }
    const candidates = this.#candidates;
    if (candidates.length === 0) return;
    // Swap first: predicates asked now may touch dispatchers for the next round.
    this.#candidates = this.#spare;
    this.#spare = candidates;
    this.#generation++;
    for (let i = 0; i < candidates.length; i++) {
      const dispatcher = candidates[i]!;
      if (dispatcher[kGeneration] !== NOT_A_MEMBER && dispatcher[kReady]()) ready.push(dispatcher);
    }
    candidates.length = 0;
  }

  /** @internal See `_internal.ts`. */
  [kAfterRound](dispatcher: Dispatcher): void {
    if (this[kInRound]) this.#afterRound.push(dispatcher);
    else process.nextTick(roundEnd, dispatcher);
  }

  /** @internal See `_internal.ts`: what one of them queues meanwhile runs too. */
  [kEndRound](): void {
    const queue = this.#afterRound;
    for (let i = 0; i < queue.length; i++) roundEnd(queue[i]!);
    queue.length = 0;
  }

  /** @internal */
  [kAdd](dispatcher: Dispatcher): void {
    this.#dispatchers.add(dispatcher);
    // Already listed (added twice: bind() after createSocket()): it keeps its generation.
    if (dispatcher[kGeneration] === NOT_A_MEMBER) dispatcher[kGeneration] = 0;
    this[kTouch](dispatcher);
  }

  /** @internal */
  [kDelete](dispatcher: Dispatcher): void {
    if (this.#dispatchers.delete(dispatcher)) {
      // Still listed as a candidate, maybe: not a member, it is skipped when collected.
      dispatcher[kGeneration] = NOT_A_MEMBER;
      this.#wakeLoop();
    }
  }

  /** @internal */
  [kBeginLoop](): void {
    if (this.#looping) {
      throw new InvalidStateError(
        'Cannot start loop(): another loop is already running on this map',
      );
    }
    this.#looping = true;
    // A new loop asks everyone once: state may have changed while no loop ran.
    this.#sweep = true;
  }

  /** @internal */
  [kEndLoop](): void {
    this.#looping = false;
    this[kInRound] = false;
    this.#waker = null;
    this.#notBefore = 0;
  }

  /** @internal See `_internal.ts`: one immediate pending at a time, however many rounds run. */
  [kBetweenRounds](gapMs: number): Promise<void> {
    this.#notBefore = performance.now() + gapMs;
    if (!this.#immediatePending) {
      this.#immediatePending = true;
      setImmediate(this.#onImmediate);
    }
    return this[kWait]();
  }

  /** @internal Resolves on the next `wake()`; the caller owns the timer that also wakes it. */
  [kWait](): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#waker = resolve;
    });
  }
}

/**
 * The default map, used by every dispatcher and `loop()` that is not given one (asyncore's
 * `socket_map`).
 *
 * @example
 * ```ts
 * new EchoClient().connect({ host: '127.0.0.1', port });
 * await loop(); // drives socketMap until it is empty
 * ```
 */
export const socketMap: SocketMap = new SocketMap();

/**
 * Close every dispatcher in `map` (default {@link socketMap}); asyncore's `close_all()`.
 *
 * @example
 * ```ts
 * closeAll(); // emergency stop: every connection and listener of the default map closes
 * ```
 */
export function closeAll(map: SocketMap = socketMap): void {
  map.closeAll();
}

// The sockets of the dispatchers that have one (the connections counted open), for stats().
function* socketsOf(dispatchers: Iterable<Dispatcher>): Iterable<Counted> {
  for (const dispatcher of dispatchers) {
    const socket = dispatcher.socket;
    if (socket !== null) yield socket as Counted;
  }
}
