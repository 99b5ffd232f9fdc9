/**
 * The other direction of the event-level adapter: an async iterable driven into a callback sink
 * (`toCallbacks`), waiting for the sink's `'drain'` when it is full.
 *
 * @module
 */
import { ConnectionClosedError } from '../modern/errors.js';
import { type EmitterLike, ListenersController, isEmitterLike } from './_listeners.js';
import { InvalidArgumentError } from '../errors.js';

function describe(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${typeof value === 'symbol' ? value.toString() : String(value)}\` (${type})`;
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
  else
    throw new InvalidArgumentError(
      `Expected \`source\` to be an iterable, got ${describe(source)}`,
    );
  if (sink === null || typeof sink !== 'object' || typeof sink.write !== 'function') {
    throw new InvalidArgumentError(
      `Expected \`sink\` to have a \`write\` method, got ${describe(sink)}`,
    );
  }
  const { drain, signal } = options;
  if (drain !== undefined && typeof drain !== 'function') {
    throw new InvalidArgumentError(`Expected \`drain\` to be a function, got ${describe(drain)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(
      `Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`,
    );
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
      new InvalidArgumentError(
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
