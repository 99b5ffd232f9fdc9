/**
 * Internal: the iterator behind `fromEvents` — a ring-buffered queue of events, a FIFO of waiting
 * `next()` calls, flow control at the water marks, and one close path.
 *
 * @internal
 * @module
 */
import { LimitOverrunError } from '../modern/errors.js';
import { type AnyListener, type EventSourceLike, ListenersController } from './_listeners.js';
import { RingBuffer } from './_ring-buffer.js';
import type { EventIterator, OverflowPolicy } from './events.js';

/** What `fromEvents` resolved from its arguments; validated before it gets here. */
export interface EventIteratorConfig {
  source: EventSourceLike;
  event: string | symbol;
  endEvents: ReadonlyArray<string | symbol>;
  errorEvents: ReadonlyArray<string | symbol>;
  highWaterMark: number;
  lowWaterMark: number;
  overflow: OverflowPolicy;
  pause: (() => void) | undefined;
  resume: (() => void) | undefined;
  multiArgs: boolean;
  signal: AbortSignal | undefined;
}

type Waiter<T> = {
  resolve: (result: IteratorResult<T, undefined>) => void;
  reject: (error: unknown) => void;
};

const DONE: IteratorResult<never, undefined> = Object.freeze({ value: undefined, done: true });

/** Open: listening. Finishing: not listening, buffered items still to deliver. Closed: done. */
const Open = 0;
const Finishing = 1;
const Closed = 2;

/**
 * The `EventIterator` that `fromEvents` returns. States only move forward: Open (listening) ->
 * Finishing (not listening; buffered items and maybe an error still to deliver) -> Closed.
 *
 * @internal
 * @example
 * ```ts
 * const it = new EventQueueIterator<number>({ source: emitter, event: 'n', ...resolvedOptions });
 * ```
 */
export class EventQueueIterator<T> implements EventIterator<T> {
  /** Items received and not yet handed to `next()`; never holds items while waiters wait. */
  readonly #buffer = new RingBuffer<T>();
  /** Pending `next()` calls (FIFO); non-empty only while the buffer is empty. */
  readonly #waiters = new RingBuffer<Waiter<T>>(4);
  /** Every listener this iterator added; emptied by `#close()`, the one exit path. */
  readonly #listeners = new ListenersController();
  readonly #highWaterMark: number;
  readonly #lowWaterMark: number;
  readonly #overflow: OverflowPolicy;
  readonly #pause: (() => void) | undefined;
  readonly #resume: (() => void) | undefined;
  #state = Open;
  #paused = false;
  #dropped = 0;
  /** An error to deliver once the buffer is empty (error event, overflow, abort, pause failure). */
  #failure: { error: unknown } | undefined;

  constructor(config: EventIteratorConfig) {
    const { source, event, endEvents, errorEvents, highWaterMark, lowWaterMark } = config;
    const { overflow, pause, resume, multiArgs, signal } = config;
    this.#highWaterMark = highWaterMark;
    this.#lowWaterMark = lowWaterMark;
    this.#overflow = overflow;
    this.#pause = pause;
    this.#resume = resume;
    if (signal?.aborted) {
      this.#failure = { error: signal.reason };
      this.#state = Finishing;
      return;
    }
    const onEvent: AnyListener = multiArgs
      ? (...args: unknown[]) => this.#push(args as T)
      : (value: unknown) => this.#push(value as T);
    this.#listeners.add(source, event, onEvent);
    const onEnd: AnyListener = () => this.#close(false, undefined);
    for (const name of endEvents) if (name !== event) this.#listeners.add(source, name, onEnd);
    const onError: AnyListener = (error: unknown) => this.#close(false, { error });
    for (const name of errorEvents) if (name !== event) this.#listeners.add(source, name, onError);
    if (signal !== undefined) {
      this.#listeners.add(signal, 'abort', () => this.#close(true, { error: signal.reason }));
    }
  }

  get bufferedLength(): number {
    return this.#buffer.length;
  }

  get droppedCount(): number {
    return this.#dropped;
  }

  get isPaused(): boolean {
    return this.#paused;
  }

  /** The per-event path: hand the value to a waiting `next()`, or buffer it. */
  #push(value: T): void {
    if (this.#state !== Open) return;
    if (this.#waiters.length > 0) {
      this.#waiters.shift()!.resolve({ value, done: false });
      return;
    }
    const buffer = this.#buffer;
    if (buffer.length >= this.#highWaterMark) {
      switch (this.#overflow) {
        case 'drop-newest':
          this.#dropped++;
          return;
        case 'drop-oldest':
          buffer.shift();
          this.#dropped++;
          break;
        case 'error':
          this.#close(false, {
            error: new LimitOverrunError(
              `Cannot buffer the event: ${this.#highWaterMark} events already wait (highWaterMark)`,
              this.#highWaterMark,
            ),
          });
          return;
        default:
          // 'pause' keeps what still arrives after pause(); 'unbounded' never limits
          break;
      }
    }
    buffer.push(value);
    if (!this.#paused && this.#pause !== undefined && buffer.length >= this.#highWaterMark) {
      this.#paused = true;
      this.#callFlowControl(this.#pause);
    }
  }

  #callFlowControl(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#close(false, { error });
    }
  }

  /**
   * The one exit path. Removes every listener; with `discard` drops the buffer. Settles the
   * waiters: the first rejects with `failure` (if any), the others resolve done. Idempotent: only
   * the first call's failure counts.
   */
  #close(discard: boolean, failure: { error: unknown } | undefined): void {
    if (this.#state === Open) {
      this.#listeners.removeAll();
      this.#state = Finishing;
      this.#failure = failure;
    } else if (!discard) {
      return;
    }
    if (discard) {
      this.#buffer.clear();
      if (this.#failure === undefined && failure !== undefined) this.#failure = failure;
    }
    // Waiters exist only while the buffer is empty, so they get the failure or the end now.
    if (this.#waiters.length > 0) {
      const first = this.#waiters.shift()!;
      const pending = this.#failure;
      this.#failure = undefined;
      if (pending !== undefined) first.reject(pending.error);
      else first.resolve(DONE);
      while (this.#waiters.length > 0) this.#waiters.shift()!.resolve(DONE);
    }
    if (this.#buffer.length === 0 && this.#failure === undefined) this.#state = Closed;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    const buffer = this.#buffer;
    if (buffer.length > 0) {
      const value = buffer.shift() as T;
      if (this.#paused && buffer.length <= this.#lowWaterMark && this.#state === Open) {
        this.#paused = false;
        this.#callFlowControl(this.#resume as () => void);
      }
      if (this.#state === Finishing && buffer.length === 0 && this.#failure === undefined) {
        this.#state = Closed;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#state === Open) {
      return new Promise<IteratorResult<T, undefined>>((resolve, reject) => {
        this.#waiters.push({ resolve, reject });
      });
    }
    this.#state = Closed;
    const failure = this.#failure;
    if (failure !== undefined) {
      this.#failure = undefined;
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- delivered unchanged
      return Promise.reject(failure.error);
    }
    return Promise.resolve(DONE);
  }

  return(_value?: unknown): Promise<IteratorResult<T, undefined>> {
    this.#close(true, undefined);
    this.#failure = undefined;
    this.#state = Closed;
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<T, undefined>> {
    this.#close(true, undefined);
    this.#failure = undefined;
    this.#state = Closed;
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rethrown unchanged
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
