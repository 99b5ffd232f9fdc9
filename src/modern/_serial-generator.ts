/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   throw(error) rejects with the error it was given, whatever its type, as a generator does. */
// An AsyncGenerator over a pull function, without the several promises and microtask hops per
// item that an `async function*` costs. Internal: StreamReader#chunks() is built on it.

/**
 * Pulls the next item: returns it now, or returns `undefined` and later calls `resolve` or
 * `reject` exactly once. Throwing is the same as calling `reject`.
 */
export type Pull<T> = (
  resolve: (value: T) => void,
  reject: (error: unknown) => void,
) => T | undefined;

const done = <T>(): IteratorResult<T, void> => ({ done: true, value: undefined });

/**
 * An async generator whose items come from `pull`, with generator semantics: `next()` calls made
 * while one is pending run in turn (each pull starts after the previous one settled), the item
 * `end` or an error ends the iteration (the error rejects that `next()`, later ones are done), and
 * `return()`/`throw()` end it after the pending `next()`.
 */
export function serialGenerator<T>(pull: Pull<T>, end: T): AsyncGenerator<T, void, undefined> {
  let finished = false;
  let pending: Promise<IteratorResult<T, void>> | null = null;
  // The settle functions of the pending next(); the callbacks below are allocated once per
  // generator, not once per item.
  let resolveNext: ((result: IteratorResult<T, void>) => void) | null = null;
  let rejectNext: ((error: unknown) => void) | null = null;
  const onValue = (value: T): void => {
    const resolve = resolveNext!;
    resolveNext = null;
    rejectNext = null;
    pending = null;
    if (value === end) {
      finished = true;
      resolve(done());
    } else {
      resolve({ done: false, value });
    }
  };
  const onError = (error: unknown): void => {
    const reject = rejectNext!;
    resolveNext = null;
    rejectNext = null;
    pending = null;
    finished = true;
    reject(error);
  };
  const step = (): Promise<IteratorResult<T, void>> => {
    if (finished) return Promise.resolve(done());
    // Created before the pull, so that a pull settling from within (a hook it calls) finds it.
    const waiting = new Promise<IteratorResult<T, void>>((resolve, reject) => {
      resolveNext = resolve;
      rejectNext = reject;
    });
    pending = waiting;
    let value: T | undefined;
    try {
      value = pull(onValue, onError);
    } catch (error) {
      onError(error);
      return waiting;
    }
    if (value !== undefined) onValue(value);
    return waiting;
  };
  // The promise of the last queued call while queued calls are outstanding: each call runs after
  // the one before it settled (a pending next() or a queued call).
  let queue: Promise<unknown> | null = null;
  let queued = 0;
  const release = (): void => {
    queued--;
    if (queued === 0) queue = null;
  };
  const after = <R>(then: () => Promise<R>): Promise<R> => {
    const previous = queue ?? pending;
    if (previous === null) return then();
    queued++;
    const call = previous.then(then, then);
    queue = call;
    call.then(release, release);
    return call;
  };
  const generator: AsyncGenerator<T, void, undefined> = {
    next: () => after(step),
    return: (value?: void | PromiseLike<void>) =>
      after(async () => {
        finished = true;
        await value;
        return done<T>();
      }),
    throw: (error: unknown) =>
      after(() => {
        finished = true;
        return Promise.reject(error);
      }),
    [Symbol.asyncIterator]: () => generator,
  };
  return generator;
}
