// Internal protocol between SocketMap, loop(), Dispatcher and the adapters. These symbols are not
// re-exported from any barrel: user code cannot reach them, so the loop's bookkeeping stays private
// while the classes live in separate files.

/** `map[kAdd](dispatcher)`: register a dispatcher (asyncore `add_channel`). */
export const kAdd: unique symbol = Symbol('dispatch-bridge.add');
/** `map[kDelete](dispatcher)`: unregister a dispatcher (asyncore `del_channel`). */
export const kDelete: unique symbol = Symbol('dispatch-bridge.delete');
/** `map[kBeginLoop]()` / `map[kEndLoop]()`: claim and release the map for one `loop()`. */
export const kBeginLoop: unique symbol = Symbol('dispatch-bridge.beginLoop');
export const kEndLoop: unique symbol = Symbol('dispatch-bridge.endLoop');
/** `map[kWait]()`: resolves on the next `wake()` (the loop owns the timer that also wakes it). */
export const kWait: unique symbol = Symbol('dispatch-bridge.wait');
/**
 * `map[kBetweenRounds](gapMs)`: resolves when the loop may start its next round: at the next
 * `setImmediate` (after the I/O of this event-loop turn), or sooner on a wake that comes at
 * least `gapMs` after the call (a transport event in a long poll phase).
 */
export const kBetweenRounds: unique symbol = Symbol('dispatch-bridge.betweenRounds');
/**
 * `map[kInRound]`: true while `loop()` dispatches the ready dispatchers of a round (the only time
 * handlers may run). A close noticed while it is false is recorded and dispatched by the next
 * round.
 */
export const kInRound: unique symbol = Symbol('dispatch-bridge.inRound');
/** `dispatcher[kReady]()`: true when the dispatcher would be dispatched in this round. */
export const kReady: unique symbol = Symbol('dispatch-bridge.ready');
/** `dispatcher[kDispatch]()`: run the handlers that are due, each through the dispatch path. */
export const kDispatch: unique symbol = Symbol('dispatch-bridge.dispatch');
/** `dispatcher[kAtEof]()`: hook run by `recv()` at end-of-stream, just before `handleClose()`. */
export const kAtEof: unique symbol = Symbol('dispatch-bridge.atEof');
/**
 * `dispatcher[kRaise](error)`: deliver `error` to `handleError()` in the next round, whatever
 * the transport and the predicates say (a congested socket with no input is still dispatched).
 * Only the first error raised before that round counts. No-op after `close()`.
 */
export const kRaise: unique symbol = Symbol('dispatch-bridge.raise');
/**
 * `dispatcher[kRequestClose]()`: `close()` the dispatcher (running `handleClose()` first, once)
 * in the next round instead of now, so that no handler runs outside `loop()`. No-op when closed.
 */
export const kRequestClose: unique symbol = Symbol('dispatch-bridge.requestClose');
/**
 * `dispatcher[kDelegate]`: a {@link DispatcherDelegate} that takes over the dispatcher's
 * predicates and read/write handlers (the stream bridge), or null. Set it once, before the first
 * round; nothing on the instance is replaced.
 */
export const kDelegate: unique symbol = Symbol('dispatch-bridge.delegate');
/**
 * `dispatcher[kQueued]()`: bytes the dispatcher's own output queue holds beyond what its
 * transport took (DispatcherWithSend, AsyncChat); above `maxOutgoing` it stops reading.
 */
export const kQueued: unique symbol = Symbol('dispatch-bridge.queued');
/**
 * `dispatcher[kTakeOutput]()`: the next chunk of the output queue for the flush of `close()`, or
 * null when nothing more is to be sent. Called after the dispatcher closed, outside any round.
 */
export const kTakeOutput: unique symbol = Symbol('dispatch-bridge.takeOutput');

/**
 * What a delegate answers for the dispatcher it is installed on (`dispatcher[kDelegate]`). Every
 * call comes through the dispatcher's one dispatch path: never after close, the event of the same
 * name after it, an exception to `handleError()`.
 */
export interface DispatcherDelegate {
  /** Replaces the dispatcher's `readable()`. */
  readable(): boolean;
  /** Replaces the dispatcher's `writable()`. */
  writable(): boolean;
  /** Replaces the dispatcher's `handleRead()`. */
  handleRead(): void;
  /** Replaces the dispatcher's `handleWrite()`. */
  handleWrite(): void;
  /**
   * `recv()` reached a clean end-of-stream (the transport still open): return true to keep the
   * connection (a half-close), so that `handleClose()` does not run.
   */
  eof(): boolean;
  /**
   * An error on its way to `handleError()`: call `handle()` to run it (the class's
   * `handleError()`, then the `'error'` event).
   */
  error(error: unknown, handle: () => void): void;
  /** The dispatcher closed (once, whichever way), after its `'close'` event. */
  closed(): void;
}

/** `map[kSlowHandlerMs]`: set by `loop({ slowHandlerMs })` while it runs; undefined: not timed. */
export const kSlowHandlerMs: unique symbol = Symbol('dispatch-bridge.slowHandlerMs');
/** `map[kStats]`: the map's counters (connections attached, closed, bytes, handler errors). */
export const kStats: unique symbol = Symbol('dispatch-bridge.stats');

/** `map[kTouch](dispatcher)`: ask this dispatcher's predicates in the next round (an event of its own). */
export const kTouch: unique symbol = Symbol('dispatch-bridge.touch');
/** `map[kCollect](ready)`: the dispatchers ready now: the touched ones, or all after `wake()`. */
export const kCollect: unique symbol = Symbol('dispatch-bridge.collect');
/**
 * `dispatcher[kGeneration]`: whether the dispatcher is in its map, and the map's collect
 * generation it was last listed as a candidate in (a touch is one field check, not a Set lookup;
 * the map's to set): {@link NOT_A_MEMBER} while it is in no map, 0 once in it and not listed yet.
 */
export const kGeneration: unique symbol = Symbol('dispatch-bridge.generation');
/** `dispatcher[kGeneration]` of a dispatcher that is in no map (never added, or deleted). */
export const NOT_A_MEMBER = -1;
/**
 * `map[kAfterRound](dispatcher)`: call `dispatcher[kRoundEnd]()` once the round's handlers have
 * run (while no round runs, at the end of this tick): AsyncChat's deferred send of the push()es
 * of a handler call, with no nextTick of its own per message.
 */
export const kAfterRound: unique symbol = Symbol('dispatch-bridge.afterRound');
/** `map[kEndRound]()`: the loop runs what kAfterRound queued in this round. */
export const kEndRound: unique symbol = Symbol('dispatch-bridge.endRound');
/** `dispatcher[kRoundEnd]()`: what kAfterRound asked for (a no-op in Dispatcher). */
export const kRoundEnd: unique symbol = Symbol('dispatch-bridge.roundEnd');
