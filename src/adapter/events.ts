/**
 * The event-level adapter: events to an async iterator (`fromEvents`), and an async iterable to a
 * callback sink (`toCallbacks`, in `to-callbacks.ts`, re-exported here).
 *
 * @module
 */
import { EventQueueIterator } from './_event-iterator.js';
import { type EventSourceLike, isEmitterLike, isEventTargetLike } from './_listeners.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors.js';

export type { EmitterLike, EventSourceLike, EventTargetLike } from './_listeners.js';

/**
 * What `fromEvents` does when an event arrives while `highWaterMark` items are already buffered.
 *
 * - `'pause'`: call `pause()` when the buffer reaches `highWaterMark` and `resume()` when it
 *   drains to `lowWaterMark`. Events that still arrive while paused are buffered, never lost.
 * - `'drop-oldest'`: discard the oldest buffered item to make room (a sliding window).
 * - `'drop-newest'`: discard the arriving event.
 * - `'error'`: stop listening; the iteration fails with a `LimitOverrunError` after the items
 *   already buffered.
 * - `'unbounded'`: buffer everything (memory grows with the backlog; only when asked for).
 *
 * @example
 * ```ts
 * const latest = fromEvents(sensor, 'reading', { highWaterMark: 10, overflow: 'drop-oldest' });
 * ```
 */
export type OverflowPolicy = 'pause' | 'drop-oldest' | 'drop-newest' | 'error' | 'unbounded';

/**
 * Options of {@link fromEvents}.
 *
 * @example
 * ```ts
 * const options: FromEventsOptions = { end: 'end', highWaterMark: 64, signal: AbortSignal.timeout(5_000) };
 * const chunks = fromEvents<Buffer>(socket, 'data', { ...options, overflow: 'pause' });
 * ```
 */
export interface FromEventsOptions {
  /**
   * Event name(s) that end the iteration, after the items already buffered.
   * @default none
   */
  end?: string | symbol | ReadonlyArray<string | symbol>;
  /**
   * Event name(s) that fail the iteration with the event's first argument, after the items
   * already buffered. Pass `[]` to listen for none.
   * @default 'error' for an EventEmitter, none for an EventTarget
   */
  error?: string | symbol | ReadonlyArray<string | symbol>;
  /**
   * How many items may wait in the buffer before the overflow policy applies.
   * @default 1024
   */
  highWaterMark?: number;
  /**
   * With overflow `'pause'`, `resume()` is called when a `next()` leaves this many items or fewer.
   * Half the high-water mark keeps the emitter flowing while the consumer works through the rest.
   * @default Math.floor(highWaterMark / 2)
   */
  lowWaterMark?: number;
  /**
   * @default 'pause' when `pause` and `resume` are given, else `'error'`
   */
  overflow?: OverflowPolicy;
  /**
   * Stops the iteration: listeners are removed, buffered items are discarded, and the pending (or
   * next) `next()` rejects with `signal.reason`, unchanged.
   */
  signal?: AbortSignal;
  /**
   * Called once when the buffer reaches `highWaterMark` (overflow `'pause'`). With overflow
   * `'pause'` and no `pause`/`resume` given, the emitter's own `pause()`/`resume()` are used
   * (a Node Readable has them).
   */
  pause?: () => void;
  /** Called once when the buffer drains to `lowWaterMark` after a `pause()`. */
  resume?: () => void;
  /**
   * Yield every event's arguments as an array instead of its first argument.
   * @default false
   */
  multiArgs?: boolean;
}

/**
 * The iterator returned by {@link fromEvents}: an `AsyncIterableIterator` that is also
 * `AsyncDisposable`, with a view of its buffer.
 *
 * @example
 * ```ts
 * await using lines: EventIterator<string> = fromEvents<string>(chat, 'line');
 * const first = await lines.next();
 * console.log(first.value, lines.bufferedLength);
 * ```
 */
export interface EventIterator<T> extends AsyncIterableIterator<T>, AsyncDisposable {
  /**
   * The next buffered item, or waits for the next event. After an end event (and the items
   * buffered before it) `{ done: true }`; after an error event the first pending or next call
   * rejects with its argument. Several calls may wait at once; they are served in order.
   */
  next(): Promise<IteratorResult<T, undefined>>;
  /** Stops listening and discards the buffer; pending `next()` calls resolve `{ done: true }`. */
  return(value?: unknown): Promise<IteratorResult<T, undefined>>;
  /**
   * Stops listening and discards the buffer, like `return()`, then rejects with `error`;
   * pending `next()` calls resolve `{ done: true }`.
   */
  throw(error?: unknown): Promise<IteratorResult<T, undefined>>;
  /** How many items wait in the buffer. */
  readonly bufferedLength: number;
  /** How many events the `'drop-oldest'` / `'drop-newest'` policies have discarded. */
  readonly droppedCount: number;
  /** True while the iterator has called `pause()` and not yet `resume()`. */
  readonly isPaused: boolean;
}

const DEFAULT_HIGH_WATER_MARK = 1024;

function describe(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${typeof value === 'symbol' ? value.toString() : String(value)}\` (${type})`;
}

function toNames(
  value: string | symbol | ReadonlyArray<string | symbol> | undefined,
  option: string,
): ReadonlyArray<string | symbol> {
  if (value === undefined) return [];
  const names: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value];
  for (const name of names) {
    if (typeof name !== 'string' && typeof name !== 'symbol') {
      throw new InvalidArgumentError(
        `Expected \`${option}\` to be an event name or an array of event names, got ${describe(name)}`,
      );
    }
  }
  return names as ReadonlyArray<string | symbol>;
}

function validateCount(value: unknown, option: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new OutOfRangeError(
      `Expected \`${option}\` to be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Turns events of an EventEmitter (`node:events`, eventemitter3, a Node stream) or an EventTarget
 * into an async iterator, with a bounded buffer and backpressure.
 *
 * - It subscribes at once, so no event emitted before the first `next()` (or between two awaits)
 *   is lost. Release it: `for await`'s `break`, `return()`, `throw()` or `await using` do that.
 * - Each event yields its first argument (the `Event` object for an EventTarget), or the array of
 *   its arguments with `multiArgs: true`.
 * - `end` events finish the iteration after the buffered items; `error` events (default
 *   `'error'` for emitters) fail it with the event's first argument after the buffered items.
 * - At most `highWaterMark` (default 1024) items are buffered; then the `overflow` policy applies.
 *   The default is `'pause'` when `pause`/`resume` are given (pause once at the high-water mark,
 *   resume once at the low-water mark, default half of it), else `'error'`: a silent drop or an
 *   unbounded buffer is never the default, and an overflow is reported instead of hidden.
 * - `return()`, `throw()`, an error or end event, an aborted `signal` and
 *   `[Symbol.asyncDispose]()` all go through one close path that removes every listener added.
 *   An emitter paused by the iterator is left paused when it closes.
 * - Several `next()` calls may wait at once; they are served in order.
 *
 * @typeParam T What each step yields.
 * @param emitter The event source.
 * @param event The event to collect.
 * @param options See {@link FromEventsOptions}; an object, or undefined for the defaults.
 * @throws {TypeError} When `emitter` is neither an EventEmitter nor an EventTarget, `options` is
 * not an object (`1`, `null`), or an option has the wrong type.
 * @throws {RangeError} When a water mark is out of range.
 *
 * @example
 * ```ts
 * import { EventEmitter } from 'node:events';
 *
 * const emitter = new EventEmitter();
 * const messages = fromEvents<string>(emitter, 'message', { end: 'close' });
 * emitter.emit('message', 'a');
 * emitter.emit('message', 'b');
 * emitter.emit('close');
 * for await (const message of messages) console.log(message); // 'a', then 'b'
 * emitter.listenerCount('message'); // 0
 * ```
 */
export function fromEvents<T extends unknown[] = unknown[]>(
  emitter: EventSourceLike,
  event: string | symbol,
  options: FromEventsOptions & { multiArgs: true },
): EventIterator<T>;
export function fromEvents<T = unknown>(
  emitter: EventSourceLike,
  event: string | symbol,
  options?: FromEventsOptions & { multiArgs?: false },
): EventIterator<T>;
export function fromEvents<T>(
  emitter: EventSourceLike,
  event: string | symbol,
  options: FromEventsOptions = {},
): EventIterator<T> {
  const isEmitter = isEmitterLike(emitter);
  if (!isEmitter && !isEventTargetLike(emitter)) {
    throw new InvalidArgumentError(
      `Expected \`emitter\` to be an EventEmitter or an EventTarget, got ${describe(emitter)}`,
    );
  }
  if (typeof event !== 'string' && typeof event !== 'symbol') {
    throw new InvalidArgumentError(
      `Expected \`event\` to be a string or a symbol, got ${describe(event)}`,
    );
  }
  if (!isEmitter && typeof event !== 'string') {
    throw new InvalidArgumentError(
      `Expected \`event\` to be a string for an EventTarget, got a symbol`,
    );
  }
  // `fromEvents(emitter, 'x', 1)` or `(…, null)` from plain JavaScript: say so, before reading it.
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(
      `Expected \`options\` to be an object or undefined, got ${describe(options)}`,
    );
  }
  const endEvents = toNames(options.end, 'end');
  const errorEvents =
    options.error === undefined ? (isEmitter ? ['error'] : []) : toNames(options.error, 'error');
  if (!isEmitter && [...endEvents, ...errorEvents].some((name) => typeof name !== 'string')) {
    throw new InvalidArgumentError(
      'Expected `end` and `error` to be strings for an EventTarget, got a symbol',
    );
  }
  const highWaterMark = validateCount(
    options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    'highWaterMark',
    1,
  );
  const lowWaterMark = validateCount(
    options.lowWaterMark ?? Math.floor(highWaterMark / 2),
    'lowWaterMark',
    0,
  );
  if (lowWaterMark >= highWaterMark) {
    throw new OutOfRangeError(
      `Expected \`lowWaterMark\` to be below \`highWaterMark\` (${highWaterMark}), got ${describe(lowWaterMark)}`,
    );
  }
  for (const name of ['pause', 'resume'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new InvalidArgumentError(
        `Expected \`${name}\` to be a function, got ${describe(options[name])}`,
      );
    }
  }
  if ((options.pause === undefined) !== (options.resume === undefined)) {
    throw new InvalidArgumentError(
      'Expected `pause` and `resume` to be given together, got only one',
    );
  }
  const overflow = options.overflow ?? (options.pause !== undefined ? 'pause' : 'error');
  if (!['pause', 'drop-oldest', 'drop-newest', 'error', 'unbounded'].includes(overflow)) {
    throw new InvalidArgumentError(
      `Expected \`overflow\` to be 'pause', 'drop-oldest', 'drop-newest', 'error' or 'unbounded', got ${describe(overflow)}`,
    );
  }
  let pause: (() => void) | undefined;
  let resume: (() => void) | undefined;
  if (overflow === 'pause') {
    if (options.pause !== undefined) {
      pause = options.pause;
      resume = options.resume;
    } else {
      const own = emitter as Partial<{ pause: () => unknown; resume: () => unknown }>;
      const ownPause = own.pause;
      const ownResume = own.resume;
      if (typeof ownPause !== 'function' || typeof ownResume !== 'function') {
        throw new InvalidArgumentError(
          "Cannot use overflow 'pause': give `pause` and `resume`, or an emitter that has them",
        );
      }
      pause = () => void ownPause.call(emitter);
      resume = () => void ownResume.call(emitter);
    }
  }
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(
      `Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`,
    );
  }
  return new EventQueueIterator<T>({
    source: emitter,
    event,
    endEvents,
    errorEvents,
    highWaterMark,
    lowWaterMark,
    overflow,
    pause,
    resume,
    multiArgs: options.multiArgs === true,
    signal,
  });
}

export { toCallbacks, type CallbackSink, type ToCallbacksOptions } from './to-callbacks.js';
