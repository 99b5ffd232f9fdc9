/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   throw(error) rejects with the error it was given, whatever its type, as a generator does. */
// An AsyncGenerator over a pull step, without the several promises and microtask hops per item
// that an `async function*` costs. Internal: StreamReader#chunks() is built on it.
//
// A class, so that one object per generator holds its state and its methods are shared (a
// closure-built generator costs a context and about ten functions per call). The settle callbacks
// handed to a pull that waits are made on its first wait only.

/**
 * Pulls the next item: returns it now, or returns `undefined` and later calls `resolve` or
 * `reject` exactly once. Throwing is the same as calling `reject`.
 */
export type Pull<T> = (
  resolve: (value: T) => void,
  reject: (error: unknown) => void,
) => T | undefined;

import { capture, captured, release } from './_capture.js';

const done = <T>(): IteratorResult<T, void> => ({ done: true, value: undefined });

/**
 * An async generator whose items come from {@link pull}, with generator semantics: `next()` calls
 * made while one is pending run in turn (each pull starts after the previous one settled), the
 * item `end` or an error ends the iteration (the error rejects that `next()`, later ones are
 * done), and `return()`/`throw()` end it after the pending `next()`.
 *
 * @example
 * ```ts
 * class Numbers extends SerialGenerator<number> {
 *   #next = 0;
 *   protected pull(): number | undefined { return this.#next++; } // end: -1, never reached
 * }
 * await new Numbers(-1).next(); // { done: false, value: 0 }
 * ```
 */
export abstract class SerialGenerator<T> implements AsyncGenerator<T, void, undefined> {
  readonly #end: T;
  #finished = false;
  // The promise of the pending next() and its settle functions.
  #pending: Promise<IteratorResult<T, void>> | null = null;
  #resolveNext: ((result: IteratorResult<T, void>) => void) | null = null;
  #rejectNext: ((error: unknown) => void) | null = null;
  // The promise of the last queued call while queued calls are outstanding: each call runs after
  // the one before it settled (a pending next() or a queued call).
  #queue: Promise<unknown> | null = null;
  #queued = 0;
  // The callbacks a waiting pull settles with (made by the first pull that waits).
  #onValue: ((value: T) => void) | null = null;
  #onError: ((error: unknown) => void) | null = null;

  constructor(end: T) {
    this.#end = end;
  }

  /**
   * The next item now, or `undefined` to wait: then {@link resolver} or {@link rejecter} settles
   * it (one of them, once). Throwing is the same as rejecting.
   */
  protected abstract pull(): T | undefined;

  /** The callback that settles a waiting pull with its item (the same function every time). */
  resolver(): (value: T) => void {
    return (this.#onValue ??= (value) => this.#value(value));
  }

  /** The callback that settles a waiting pull with an error (the same function every time). */
  rejecter(): (error: unknown) => void {
    return (this.#onError ??= (error) => this.#error(error));
  }

  next(): Promise<IteratorResult<T, void>> {
    if (this.#queue === null && this.#pending === null) return this.#step();
    return this.#after(() => this.#step());
  }

  return(value?: void | PromiseLike<void>): Promise<IteratorResult<T, void>> {
    return this.#after(async () => {
      this.#finished = true;
      await value;
      return done<T>();
    });
  }

  throw(error: unknown): Promise<IteratorResult<T, void>> {
    return this.#after(() => {
      this.#finished = true;
      return Promise.reject(error);
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #step(): Promise<IteratorResult<T, void>> {
    if (this.#finished) return Promise.resolve(done<T>());
    // Created before the pull, so that a pull settling from within (a hook it calls) finds it.
    const waiting = new Promise<IteratorResult<T, void>>(capture);
    this.#resolveNext = captured.resolve as (result: IteratorResult<T, void>) => void;
    this.#rejectNext = captured.reject;
    release();
    this.#pending = waiting;
    let value: T | undefined;
    try {
      value = this.pull();
    } catch (error) {
      this.#error(error);
      return waiting;
    }
    if (value !== undefined) this.#value(value);
    return waiting;
  }

  #value(value: T): void {
    const resolve = this.#resolveNext!;
    this.#resolveNext = null;
    this.#rejectNext = null;
    this.#pending = null;
    if (value === this.#end) {
      this.#finished = true;
      resolve(done());
    } else {
      resolve({ done: false, value });
    }
  }

  #error(error: unknown): void {
    const reject = this.#rejectNext!;
    this.#resolveNext = null;
    this.#rejectNext = null;
    this.#pending = null;
    this.#finished = true;
    reject(error);
  }

  #after<R>(then: () => Promise<R>): Promise<R> {
    const previous = this.#queue ?? this.#pending;
    if (previous === null) return then();
    this.#queued++;
    const call = previous.then(then, then);
    this.#queue = call;
    const release = (): void => {
      if (--this.#queued === 0) this.#queue = null;
    };
    call.then(release, release);
    return call;
  }
}

// A SerialGenerator over a pull function.
class FunctionGenerator<T> extends SerialGenerator<T> {
  readonly #pull: Pull<T>;

  constructor(pull: Pull<T>, end: T) {
    super(end);
    this.#pull = pull;
  }

  protected pull(): T | undefined {
    return this.#pull(this.resolver(), this.rejecter());
  }
}

/**
 * A {@link SerialGenerator} whose items come from `pull` (see {@link Pull}).
 *
 * @example
 * ```ts
 * const numbers = serialGenerator<number>(() => 1, 0); // 1, 1, 1, ...
 * ```
 */
export function serialGenerator<T>(pull: Pull<T>, end: T): AsyncGenerator<T, void, undefined> {
  return new FunctionGenerator(pull, end);
}
