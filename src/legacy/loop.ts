import { channels, publish } from '../_core/observe.js';
import {
  kBeginLoop,
  kBetweenRounds,
  kCollect,
  kDispatch,
  kEndRound,
  kEndLoop,
  kInRound,
  kSlowHandlerMs,
  kTouch,
  kWait,
} from './_internal.js';
import { describeValue } from './_bytes.js';
import type { Dispatcher } from './dispatcher.js';
import { SocketMap, socketMap } from './socket-map.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors.js';

/** Options of {@link loop}. */
export interface LoopOptions {
  /** The map to drive. Default: the shared {@link socketMap}. */
  map?: SocketMap;
  /**
   * How long one round waits for a dispatcher to become ready, in milliseconds (asyncore's
   * `timeout=30.0` is `30_000`). A round that times out dispatches nothing and still counts.
   * `Infinity` waits for an event. Default `30_000`.
   */
  timeout?: number;
  /** Stop after this many rounds. Default: run until the map is empty. */
  count?: number;
  /** Stop (resolve) when aborted. Dispatchers stay open; call `closeAll()` to close them. */
  signal?: AbortSignal;
  /**
   * Report a handler call (or a whole round) that takes longer than this many ms, as asyncio's
   * debug mode reports slow callbacks: on the `dispatch-bridge:slow-handler` channel, in the
   * NODE_DEBUG=dispatch-bridge log, and through the dispatcher's `logInfo(…, 'warning')`.
   * Default: not timed.
   */
  slowHandlerMs?: number;
}

// A round starts after the I/O of the event-loop turn (at the next setImmediate), or, when a
// transport event comes at least this many ms after the last round, on that event. libuv's poll
// phase goes on while events keep coming (up to 48 × 1,024 of them): a server whose modern
// handlers answer inside the poll phase keeps it going for up to a second at 10,000
// connections, and legacy dispatchers waiting for the check phase made 7× fewer round trips. The
// gap keeps what a round itself causes (an in-memory peer's data, a nextTick) for the next turn,
// so rounds never starve I/O, and it batches the events of a busy millisecond into one round.
const ROUND_GAP_MS = 1;

// While handlers run, every dispatcher is asked at least this often (ms), whatever events it had:
// a safety net for asyncore code whose readable()/writable() depend on another dispatcher's
// state (a proxy's "read while the peer has room"), which asyncore re-asked every round. It costs
// one O(map) pass per interval, not per round; and the interval grows with the pass's own cost
// (SWEEP_SHARE), so that with 10,000 connections the passes stay a small share of the loop's
// time (one pass over 10,000 dispatchers takes about 1 ms: one every ~50 ms).
const SWEEP_MS = 10;
const SWEEP_SHARE = 50;

/**
 * Drive the dispatchers of a map: asyncore's `loop()`.
 *
 * Each *round* waits until at least one dispatcher is ready (or `timeout` ms pass), then
 * dispatches every ready one once, in map order: read side first (`handleAccept` /
 * `handleConnect` / `handleRead`), then write side (`handleWrite`). A dispatcher is ready to read
 * when it is listening with a pending connection, or connected with buffered bytes, end-of-stream
 * or a pending error, and `readable()` says yes; ready to write when connected, its transport is
 * not congested and `writable()` says yes. Predicates are asked again before every handler call.
 *
 * Handlers of a map run only inside a `loop()` on that map, and only one `loop()` may run on a map
 * at a time (a second one rejects at once). The loop yields to Node's event loop between rounds,
 * so I/O and timers keep running; note that a dispatcher whose `writable()` is always true (the
 * default!) is ready every round: asyncore's busy loop, reproduced faithfully. The next round
 * starts after the I/O of the current event-loop turn, or sooner on a transport event that comes
 * at least 1 ms after the last round: dispatchers are served while a long poll phase goes on (in
 * a mixed server at 10,000 connections, as often as the modern handlers beside them), while what
 * a round itself causes (an in-memory peer's reply) waits for the next turn.
 *
 * Resolves when the map is empty, after `count` rounds, or when `signal` aborts.
 *
 * @throws {TypeError} If `map` is not a SocketMap.
 * @throws {RangeError} If `timeout` or `count` is out of range.
 * @throws {Error} If another `loop()` is already running on the map.
 *
 * @example
 * ```ts
 * const map = new SocketMap();
 * const client = new HttpClient({ map });
 * client.connect({ host: '127.0.0.1', port });
 * await loop({ map, timeout: 1_000 }); // resolves when the client has closed
 * ```
 */
export async function loop(options: LoopOptions = {}): Promise<void> {
  const map = options.map ?? socketMap;
  if (!(map instanceof SocketMap)) {
    throw new InvalidArgumentError(
      `Expected \`map\` to be a SocketMap, got \`${describeValue(map)}\` (${typeof map})`,
    );
  }
  const timeout = options.timeout ?? 30_000;
  const count = options.count ?? Infinity;
  const signal = options.signal;
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
    throw new OutOfRangeError(
      `Expected \`timeout\` to be a non-negative number, got \`${String(timeout)}\` (${typeof timeout})`,
    );
  }
  if (typeof count !== 'number' || !(Number.isInteger(count) || count === Infinity) || count < 0) {
    throw new OutOfRangeError(
      `Expected \`count\` to be a non-negative integer, got \`${String(count)}\` (${typeof count})`,
    );
  }
  const slow = options.slowHandlerMs;
  if (slow !== undefined && (typeof slow !== 'number' || !(slow >= 0))) {
    throw new OutOfRangeError(
      `Expected \`slowHandlerMs\` to be a non-negative number, got \`${String(slow)}\` (${typeof slow})`,
    );
  }
  if (signal?.aborted) return;
  map[kBeginLoop]();
  map[kSlowHandlerMs] = slow;
  const wake = (): void => map.wake();
  signal?.addEventListener('abort', wake, { once: true });
  // One timer for the whole loop, re-armed with refresh() before each wait: cheaper than a new
  // timer per round. A firing while nobody waits is a harmless no-op wake().
  let fired: boolean;
  const onTimer = (): void => {
    fired = true;
    wake();
  };
  const timer = Number.isFinite(timeout) ? setTimeout(onTimer, timeout) : null;
  const ready: Dispatcher[] = [];
  // Handlers ran since the last pass over every dispatcher, and when that pass was.
  let dirty = false;
  let lastSweep = performance.now();
  let sweepEvery = SWEEP_MS;
  let nudge: NodeJS.Timeout | undefined;
  const collect = (): void => {
    const now = performance.now();
    if (!dirty || now - lastSweep < sweepEvery) {
      map[kCollect](ready, false);
      return;
    }
    dirty = false;
    map[kCollect](ready, true);
    lastSweep = performance.now();
    sweepEvery = Math.max(SWEEP_MS, SWEEP_SHARE * (lastSweep - now));
  };
  try {
    for (let round = 0; round < count; round++) {
      if (map.size === 0 || signal?.aborted) return;
      await map[kBetweenRounds](ROUND_GAP_MS);
      collect();
      if (ready.length === 0) {
        const deadline = timer === null ? Infinity : performance.now() + timeout;
        // refresh() re-arms the shared timer for the full timeout, once per round: a spurious
        // wake-up (a wake() that finds nothing ready) loops back without re-arming it, so a
        // round never outlasts `timeout`, and it creates no timer: the shared one still runs.
        // Only a timer that fired before the deadline (timers round to the millisecond) gets
        // one for what is left.
        timer?.refresh();
        fired = false;
        let rest: NodeJS.Timeout | undefined;
        try {
          while (ready.length === 0 && map.size > 0 && !signal?.aborted) {
            const left = deadline - performance.now();
            if (left <= 0) break;
            if (fired) {
              fired = false;
              clearTimeout(rest);
              rest = setTimeout(onTimer, left);
            }
            // Handlers ran since the last full pass: come back for one when it is due.
            // One timer per sweep interval of activity, not one per round: it outlives the round.
            if (dirty && nudge === undefined) {
              nudge = setTimeout(
                () => {
                  nudge = undefined;
                  wake();
                },
                Math.max(0, lastSweep + sweepEvery - performance.now()),
              );
            }
            await map[kWait]();
            collect();
          }
        } finally {
          clearTimeout(rest);
        }
      }
      map[kInRound] = true;
      const started = slow === undefined ? 0 : performance.now();
      const dispatched = ready.length;
      try {
        for (const dispatcher of ready) dispatcher[kDispatch]();
      } finally {
        map[kEndRound]();
        map[kInRound] = false;
        // Ready in this round: asked again in the next one (a busy writer stays busy).
        for (const dispatcher of ready) map[kTouch](dispatcher, false);
        if (ready.length > 0) dirty = true;
        ready.length = 0;
      }
      if (slow !== undefined) {
        const ms = performance.now() - started;
        if (ms > slow) {
          publish(channels.slowHandler, 'slow-round', {
            id: 0,
            layer: 'legacy',
            round,
            ms,
            dispatched,
          });
        }
      }
    }
  } finally {
    if (timer !== null) clearTimeout(timer);
    clearTimeout(nudge);
    signal?.removeEventListener('abort', wake);
    map[kSlowHandlerMs] = undefined;
    map[kEndLoop]();
  }
}
