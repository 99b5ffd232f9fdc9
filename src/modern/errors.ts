/**
 * The error classes of dispatch-bridge.
 *
 * This module imports nothing, so every layer (legacy, modern, adapter) may use it without
 * breaking the rule that `src/legacy` and `src/modern` do not depend on each other.
 *
 * Misuse (a bad argument, a second concurrent read) throws a built-in error (`TypeError`,
 * `RangeError`, `Error`); the classes below are for conditions that callers are expected to catch.
 *
 * @module
 */

/**
 * End-of-stream came before a read could be satisfied (asyncio's `IncompleteReadError`).
 *
 * `partial` holds the bytes that were read before end-of-stream; they have been consumed.
 *
 * @example
 * ```ts
 * try {
 *   await reader.readExactly(4);
 * } catch (error) {
 *   if (error instanceof IncompleteReadError) console.log('short frame', error.partial);
 * }
 * ```
 */
export class IncompleteReadError extends Error {
  /** The bytes read before end-of-stream. */
  readonly partial: Buffer;
  /** How many bytes were wanted, or `null` when reading up to a separator. */
  readonly expected: number | null;

  constructor(partial: Buffer, expected: number | null) {
    super(
      `Incomplete read: got ${partial.length} bytes, expected ${
        expected === null ? 'a separator' : `${expected} bytes`
      } before end-of-stream`,
    );
    this.name = 'IncompleteReadError';
    this.partial = partial;
    this.expected = expected;
  }
}

/**
 * A message did not fit within a configured limit (asyncio's `LimitOverrunError`).
 *
 * The data is not lost: a `StreamReader` keeps it in its buffer, and `consumed` tells how many
 * bytes were looked at. `AsyncChat` reports it to `handleError()` when `maxIncoming` is exceeded.
 *
 * @example
 * ```ts
 * try {
 *   await reader.readLine();
 * } catch (error) {
 *   if (error instanceof LimitOverrunError) await reader.readExactly(error.consumed); // skip it
 * }
 * ```
 */
export class LimitOverrunError extends Error {
  /** How many bytes were examined without finding the end of the message. */
  readonly consumed: number;

  constructor(message: string, consumed: number) {
    super(message);
    this.name = 'LimitOverrunError';
    this.consumed = consumed;
  }
}

/**
 * The connection is gone: a write, `drain()` or a read could not complete because the transport
 * closed or was reset. Carries the underlying error (if any) as `cause`.
 *
 * @example
 * ```ts
 * writer.write('bye\n');
 * await writer.drain().catch((error) => {
 *   if (!(error instanceof ConnectionClosedError)) throw error;
 * });
 * ```
 */
export class ConnectionClosedError extends Error {
  constructor(message = 'Connection closed', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionClosedError';
  }
}

/**
 * A `timeout()` ran out before its work settled. `ms` is the time that was allowed.
 *
 * @example
 * ```ts
 * await timeout(1_000, (signal) => reader.readLine({ signal })).catch((error) => {
 *   if (error instanceof TimeoutError) writer.write('too slow\n');
 * });
 * ```
 */
export class TimeoutError extends Error {
  /** The time that was allowed, in milliseconds. */
  readonly ms: number;

  constructor(ms: number, message = `Timed out after ${ms} ms`) {
    super(message);
    this.name = 'TimeoutError';
    this.ms = ms;
  }
}
