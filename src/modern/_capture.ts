// The resolving functions of a new promise, without a closure per promise (internal): one shared
// executor stores them in `captured`, to be read back at once by whoever created the promise.
// Used where a promise is made per wait or per item (a waiting read, a next() of chunks()).

/** The functions of the promise `new Promise(capture)` last made (read them at once). */
export const captured: {
  resolve: ((value: never) => void) | null;
  reject: ((error: unknown) => void) | null;
} = { resolve: null, reject: null };

/**
 * The shared executor: `new Promise(capture)`, then take `captured.resolve`/`captured.reject`.
 *
 * @example
 * ```ts
 * const promise = new Promise<Buffer>(capture);
 * const resolve = captured.resolve as (value: Buffer) => void;
 * ```
 */
export function capture(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** Clears `captured` (it holds no promise alive once read). */
export function release(): void {
  captured.resolve = null;
  captured.reject = null;
}
