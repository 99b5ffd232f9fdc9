/**
 * The event-level adapter: events to an async iterator (`fromEvents`), and an async iterable to a
 * callback sink (`toCallbacks`).
 *
 * @module
 */
import { ConnectionClosedError } from '../modern/errors.js';
import { EventQueueIterator } from './_event-iterator.js';
import {
  type EmitterLike,
  type EventSourceLike,
  ListenersController,
  isEmitterLike,
  isEventTargetLike,
} from './_listeners.js';

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
      throw new TypeError(
        `Expected \`${option}\` to be an event name or an array of event names, got ${describe(name)}`,
      );
    }
  }
  return names as ReadonlyArray<string | symbol>;
}

function validateCount(value: unknown, option: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(
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
    throw new TypeError(
      `Expected \`emitter\` to be an EventEmitter or an EventTarget, got ${describe(emitter)}`,
    );
  }
  if (typeof event !== 'string' && typeof event !== 'symbol') {
    throw new TypeError(`Expected \`event\` to be a string or a symbol, got ${describe(event)}`);
  }
  if (!isEmitter && typeof event !== 'string') {
    throw new TypeError(`Expected \`event\` to be a string for an EventTarget, got a symbol`);
  }
  // `fromEvents(emitter, 'x', 1)` or `(…, null)` from plain JavaScript: say so, before reading it.
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(
      `Expected \`options\` to be an object or undefined, got ${describe(options)}`,
    );
  }
  const endEvents = toNames(options.end, 'end');
  const errorEvents =
    options.error === undefined ? (isEmitter ? ['error'] : []) : toNames(options.error, 'error');
  if (!isEmitter && [...endEvents, ...errorEvents].some((name) => typeof name !== 'string')) {
    throw new TypeError(
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
    throw new RangeError(
      `Expected \`lowWaterMark\` to be below \`highWaterMark\` (${highWaterMark}), got ${describe(lowWaterMark)}`,
    );
  }
  for (const name of ['pause', 'resume'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(options[name])}`);
    }
  }
  if ((options.pause === undefined) !== (options.resume === undefined)) {
    throw new TypeError('Expected `pause` and `resume` to be given together, got only one');
  }
  const overflow = options.overflow ?? (options.pause !== undefined ? 'pause' : 'error');
  if (!['pause', 'drop-oldest', 'drop-newest', 'error', 'unbounded'].includes(overflow)) {
    throw new TypeError(
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
        throw new TypeError(
          "Cannot use overflow 'pause': give `pause` and `resume`, or an emitter that has them",
        );
      }
      pause = () => void ownPause.call(emitter);
      resume = () => void ownResume.call(emitter);
    }
  }
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`);
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

/**
 * A callback sink for {@link toCallbacks}. A Node `Writable` is one: `write()` returns false when
 * its buffer is full, and it emits `'drain'` when it may be written again.
 *
 * @example
 * ```ts
 * const collected: string[] = [];
 * const sink: CallbackSink<string> = { write: (line) => void collected.push(line) };
 * await toCallbacks(['a', 'b'], sink);
 * ```
 */
export interface CallbackSink<T> {
  /** Takes one item; returning `false` asks the caller to wait for `'drain'`. */
  write(item: T): boolean | void;
  /** Called once, after the last item, when the source is exhausted. */
  end?(): void;
  /** Called once when the source throws, with what it threw. */
  error?(error: unknown): void;
}

/**
 * Options of {@link toCallbacks}.
 *
 * @example
 * ```ts
 * await toCallbacks(items, sink, { drain: () => sink.flushed(), signal: AbortSignal.timeout(1_000) });
 * ```
 */
export interface ToCallbacksOptions {
  /**
   * Waits until the sink accepts writes again, after `write()` returned false. Without it, the
   * sink's `'drain'` event is awaited (the sink must then have `on` and `off`/`removeListener`).
   */
  drain?: () => Promise<void>;
  /** Stops the transfer: the source's `return()` is called and the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

type SinkWithEvents = Partial<EmitterLike> & {
  destroyed?: unknown;
  writableNeedDrain?: unknown;
};

function isAsyncIterable<T>(value: unknown): value is AsyncIterable<T> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Partial<AsyncIterable<T>>)[Symbol.asyncIterator] === 'function'
  );
}

function isIterable<T>(value: unknown): value is Iterable<T> {
  return (
    value !== null &&
    value !== undefined &&
    typeof (value as Partial<Iterable<T>>)[Symbol.iterator] === 'function'
  );
}

/**
 * Drives an async (or sync) iterable into a callback sink, with backpressure: when `write()`
 * returns false it waits for the sink's `'drain'` event (or `options.drain()`) before pulling the
 * next item, so the source is never read faster than the sink takes it.
 *
 * - Source exhausted: `sink.end()` is called once and the promise resolves. For a Node Writable
 *   this starts its finish; await `finished(writable)` to know the data is flushed.
 * - Source throws: `sink.error(e)` is called once (if the sink has it) and the promise rejects
 *   with `e`.
 * - Sink fails (`write()` or `end()` throws, or it emits `'error'` or closes while we wait for
 *   `'drain'`): the source is stopped with `return()` (its `finally` runs) and the promise
 *   rejects with the sink's error (a `ConnectionClosedError` for a close).
 * - `signal` aborts: the source is stopped with `return()` and the promise rejects with
 *   `signal.reason`, unchanged. If a `next()` of the source is in flight, `return()` is called
 *   without waiting for it.
 *
 * Every listener it adds (drain waits, abort) is removed when it settles.
 *
 * @typeParam T The item type.
 * @throws {TypeError} When `source` is not iterable, `sink` has no `write()`, or `write()` returns
 * false and there is no way to wait for drain.
 *
 * @example
 * ```ts
 * import { createWriteStream } from 'node:fs';
 * import { finished } from 'node:stream/promises';
 *
 * const file = createWriteStream('/tmp/lines.txt');
 * async function* lines() {
 *   for (let i = 0; i < 3; i++) yield `line ${i}\n`;
 * }
 * await toCallbacks(lines(), file); // waits for 'drain' whenever file.write() returns false
 * await finished(file);
 * ```
 */
export async function toCallbacks<T>(
  source: AsyncIterable<T> | Iterable<T>,
  sink: CallbackSink<T>,
  options: ToCallbacksOptions = {},
): Promise<void> {
  let iterator: AsyncIterator<T> | Iterator<T>;
  if (isAsyncIterable<T>(source)) iterator = source[Symbol.asyncIterator]();
  else if (isIterable<T>(source)) iterator = source[Symbol.iterator]();
  else throw new TypeError(`Expected \`source\` to be an iterable, got ${describe(source)}`);
  if (sink === null || typeof sink !== 'object' || typeof sink.write !== 'function') {
    throw new TypeError(`Expected \`sink\` to have a \`write\` method, got ${describe(sink)}`);
  }
  const { drain, signal } = options;
  if (drain !== undefined && typeof drain !== 'function') {
    throw new TypeError(`Expected \`drain\` to be a function, got ${describe(drain)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`);
  }

  const listeners = new ListenersController();
  /** The wait in progress (a source `next()` or a drain), which an abort rejects directly. */
  let current: { reject: (error: unknown) => void } | undefined;
  let nextInFlight = false;
  const state: { aborted: { reason: unknown } | undefined } = { aborted: undefined };
  const throwIfAborted = (): void => {
    if (state.aborted !== undefined) throw state.aborted.reason;
  };
  let sourceDone = false;

  const stopSource = async (): Promise<void> => {
    if (sourceDone) return;
    sourceDone = true;
    // The error that stopped the transfer is the one to report: a failing return() is ignored.
    let done: unknown;
    try {
      done = iterator.return?.();
    } catch (_ignored) {
      return;
    }
    if (done === undefined) return;
    if (nextInFlight) {
      // An async generator queues return() behind the pending next(): do not wait for it.
      Promise.resolve(done).catch(() => undefined);
    } else {
      await Promise.resolve(done).catch(() => undefined);
    }
  };

  /** Waits for `work`; an abort rejects the wait at once (the abort listener is added once). */
  const waitFor = <R>(work: Promise<R>, isNext: boolean): Promise<R> => {
    // without a signal nothing interrupts a wait, so no return() can overlap a next()
    if (signal === undefined) return work;
    if (isNext) nextInFlight = true;
    return new Promise<R>((resolve, reject) => {
      current = { reject };
      work.then(
        (value) => {
          if (isNext) nextInFlight = false;
          resolve(value);
        },
        (error: unknown) => {
          if (isNext) nextInFlight = false;
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passed on unchanged
          reject(error);
        },
      );
    }).finally(() => {
      current = undefined;
    });
  };

  if (signal !== undefined) {
    if (signal.aborted) {
      await stopSource();
      throw signal.reason;
    }
    listeners.add(signal, 'abort', () => {
      state.aborted = { reason: signal.reason };
      current?.reject(signal.reason);
    });
  }

  try {
    for (;;) {
      let step: IteratorResult<T>;
      try {
        step = await waitFor(Promise.resolve(iterator.next()), true);
      } catch (error) {
        if (state.aborted !== undefined) throw error;
        // The source failed: it is finished; tell the sink.
        sourceDone = true;
        try {
          sink.error?.(error);
        } catch (_ignored) {
          // the source's error is what the caller needs to see
        }
        throw error;
      }
      throwIfAborted();
      if (step.done === true) {
        sourceDone = true;
        sink.end?.();
        return;
      }
      if (sink.write(step.value) === false) {
        await waitFor(waitForDrain(sink as SinkWithEvents, drain, listeners), false);
        throwIfAborted();
      }
    }
  } catch (error) {
    await stopSource();
    throw error;
  } finally {
    listeners.removeAll();
  }
}

/** Resolves when the sink may be written again; rejects when it fails or closes first. */
function waitForDrain(
  sink: SinkWithEvents,
  drain: (() => Promise<void>) | undefined,
  listeners: ListenersController,
): Promise<void> {
  if (drain !== undefined) return drain();
  if (sink.destroyed === true) {
    return Promise.reject(
      new ConnectionClosedError('Cannot wait for drain: the sink is already destroyed'),
    );
  }
  if (sink.writableNeedDrain === false) return Promise.resolve();
  if (!isEmitterLike(sink)) {
    return Promise.reject(
      new TypeError(
        'Cannot wait for drain: the sink has no `on`/`off` methods and no `drain` option was given',
      ),
    );
  }
  return new Promise<void>((resolve, reject) => {
    const mark = listeners.size;
    const settle = (error: unknown, failed: boolean): void => {
      // remove just this wait's listeners (they are the last ones added)
      listeners.removeSince(mark);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the sink's own error
      if (failed) reject(error);
      else resolve();
    };
    listeners.add(sink, 'drain', () => settle(undefined, false));
    listeners.add(sink, 'error', (error: unknown) => settle(error, true));
    listeners.add(sink, 'close', () =>
      settle(new ConnectionClosedError('Cannot write: the sink closed before it drained'), true),
    );
  });
}
