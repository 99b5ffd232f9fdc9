/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   Cancelled waits reject with `signal.reason` unchanged and stored errors are rethrown as given,
   whatever their type (DESIGN: "rejects with the signal's reason"). */
import { InvalidArgumentError, TimeoutError } from './errors.js';
import { checkMilliseconds, checkSignal } from './_validate.js';

/**
 * Runs `work` with a deadline (asyncio's `wait_for()` / `timeout()`).
 *
 * `work` receives a signal. When `ms` pass first, the signal is aborted with a `TimeoutError` and
 * the returned promise rejects with that same error at once: it does not wait for `work` to
 * notice (a late result or error of `work` is ignored, never unhandled). The timer is cleared on
 * every path. An outer `signal` aborts the work the same way, with its own reason.
 *
 * Two errors are named `'TimeoutError'`. This one rejects with the library's {@link TimeoutError}
 * (carrying `ms`). An outer `signal` made by `AbortSignal.timeout(ms)` rejects, like every
 * aborted signal, with its reason unchanged: a `DOMException` whose `name` is also
 * `'TimeoutError'` but which is not an `instanceof` the library's class. To catch either, test
 * `error.name === 'TimeoutError'`; to tell them apart, `error instanceof TimeoutError` (ours, and
 * `ms` is there) or `error instanceof DOMException` (the signal's).
 *
 * @param ms The deadline, in milliseconds (a finite number >= 0).
 * @param work Receives the signal to pass to every wait; it aborts at the deadline.
 * @param options.signal An outer signal: its abort cancels the work and rejects with its reason.
 * @throws {TimeoutError} When `ms` pass before `work` settles.
 * @throws {TypeError} When `work` is not a function or `signal` not an AbortSignal.
 * @throws {RangeError} When `ms` is negative, NaN or infinite.
 *
 * @example
 * ```ts
 * import { timeout, TimeoutError } from 'dispatch-bridge/modern';
 *
 * try {
 *   const line = await timeout(5_000, (signal) => reader.readLine({ signal }));
 * } catch (error) {
 *   if (error instanceof TimeoutError) console.log(`no line within ${error.ms} ms`);
 *   else throw error;
 * }
 * // With an outer AbortSignal.timeout(), check the name: it rejects with a DOMException.
 * await timeout(60_000, work, { signal: AbortSignal.timeout(5_000) }).catch((error: unknown) => {
 *   if ((error as Error).name !== 'TimeoutError') throw error;
 * });
 * ```
 */
export function timeout<T>(
  ms: number,
  work: (signal: AbortSignal) => Promise<T>,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<T> {
  try {
    checkMilliseconds('ms', ms);
    if (typeof work !== 'function') {
      throw new InvalidArgumentError(`Expected \`work\` to be a function, got \`${typeof work}\``);
    }
    const outer = checkSignal(options.signal);
    if (outer?.aborted) return Promise.reject(outer.reason);
    const controller = new AbortController();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        outer?.removeEventListener('abort', onAbort);
        return true;
      };
      const cancel = (reason: unknown): void => {
        if (!settle()) return;
        controller.abort(reason);
        reject(reason);
      };
      const onAbort = (): void => cancel(outer?.reason);
      const timer = setTimeout(() => cancel(new TimeoutError(ms)), ms);
      outer?.addEventListener('abort', onAbort, { once: true });
      let promise: Promise<T>;
      try {
        promise = Promise.resolve(work(controller.signal));
      } catch (error) {
        if (settle()) reject(error);
        return;
      }
      promise.then(
        (value) => {
          if (settle()) resolve(value);
        },
        (error: unknown) => {
          if (settle()) reject(error);
        },
      );
    });
  } catch (error) {
    return Promise.reject(error);
  }
}
