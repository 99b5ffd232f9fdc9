/**
 * The error classes of dispatch-bridge.
 *
 * This module imports nothing, so every layer (legacy, modern, adapter) may use it without
 * breaking the rule that `src/legacy` and `src/modern` do not depend on each other.
 *
 * Misuse (a bad argument, a call in the wrong state) throws {@link InvalidArgumentError} (a
 * `TypeError`), {@link OutOfRangeError} (a `RangeError`) or {@link InvalidStateError} (an
 * `Error`), so `instanceof TypeError` checks keep working; the other classes are for conditions
 * that callers are expected to catch. Every class carries a stable `code` (`ERR_DB_…`): branch on
 * it rather than on messages, which may change.
 *
 * @module
 */

import type { Address } from './address.js';

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
  /** Always `'ERR_DB_INCOMPLETE_READ'`. */
  readonly code = 'ERR_DB_INCOMPLETE_READ' as const;
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
  /** Always `'ERR_DB_LIMIT_OVERRUN'`. */
  readonly code = 'ERR_DB_LIMIT_OVERRUN' as const;
  /**
   * How many bytes to skip: when the separator was found past the limit, the bytes through it
   * (so `readExactly(consumed)` skips the whole message, separator included, as asyncio's
   * `readline()` does); when none was found, the bytes examined so far.
   */
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
  /** Always `'ERR_DB_CONNECTION_CLOSED'`. */
  readonly code = 'ERR_DB_CONNECTION_CLOSED' as const;
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
  /** Always `'ERR_DB_TIMEOUT'`. */
  readonly code = 'ERR_DB_TIMEOUT' as const;
  /** The time that was allowed, in milliseconds. */
  readonly ms: number;

  constructor(ms: number, message = `Timed out after ${ms} ms`) {
    super(message);
    this.name = 'TimeoutError';
    this.ms = ms;
  }
}

/**
 * An operation was cut short by a `close()` (for example `listen()` or `startServing()` when the
 * server was closed before listening had finished). Its `name` is `'AbortError'`, as for
 * `AbortSignal` aborts, so `error.name === 'AbortError'` checks keep working.
 *
 * @example
 * ```ts
 * const listening = server.startServing();
 * server.close();
 * await listening.catch((error) => {
 *   if (error instanceof AbortError) console.log('closed before it listened');
 * });
 * ```
 */
export class AbortError extends Error {
  /** Always `'ERR_DB_ABORTED'`. */
  readonly code = 'ERR_DB_ABORTED' as const;

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** The stable codes of {@link ProxyProtocolError}. */
export type ProxyProtocolErrorCode =
  'ERR_DB_PROXY_HEADER' | 'ERR_DB_PROXY_UNTRUSTED' | 'ERR_DB_PROXY_TIMEOUT';

/**
 * A connection did not start with an acceptable PROXY header; the server should close it.
 *
 * `code` is `ERR_DB_PROXY_HEADER` (malformed, of the wrong version, too long, or the peer closed
 * first), `ERR_DB_PROXY_UNTRUSTED` (the peer is not in `trustedProxies`; nothing was read) or
 * `ERR_DB_PROXY_TIMEOUT` (no complete header within `timeout` ms). `peer` is the connection's
 * real peer, when known.
 *
 * @example
 * ```ts
 * readProxyHeader(socket).catch((error) => {
 *   if (error instanceof ProxyProtocolError) console.log(error.code, error.peer);
 *   socket.destroy();
 * });
 * ```
 */
export class ProxyProtocolError extends Error {
  /** What went wrong, stable across releases. */
  readonly code: ProxyProtocolErrorCode;
  /** The real peer of the connection (the balancer), if known. */
  readonly peer: Address | undefined;

  constructor(
    code: ProxyProtocolErrorCode,
    message: string,
    options: { peer?: Address | undefined; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProxyProtocolError';
    this.code = code;
    this.peer = options.peer;
  }
}

/**
 * An argument or option of the wrong type or shape (`code` `ERR_DB_INVALID_ARG`). It is a
 * `TypeError` (its `name` is `'TypeError'`), thrown synchronously by the call that got it.
 *
 * @example
 * ```ts
 * try {
 *   new Dispatcher({ socket: 42 as never });
 * } catch (error) {
 *   if ((error as { code?: string }).code === 'ERR_DB_INVALID_ARG') console.log('bad socket');
 * }
 * ```
 */
export class InvalidArgumentError extends TypeError {
  /** Always `'ERR_DB_INVALID_ARG'`. */
  readonly code = 'ERR_DB_INVALID_ARG' as const;
}

/**
 * A numeric argument or option out of its range (`code` `ERR_DB_OUT_OF_RANGE`): a negative
 * timeout, a `backlog` of `NaN`, an `idleTimeout` that Node's timers cannot hold. It is a
 * `RangeError` (its `name` is `'RangeError'`).
 *
 * @example
 * ```ts
 * try {
 *   await reader.readExactly(-1);
 * } catch (error) {
 *   if (error instanceof OutOfRangeError) console.log(error.message);
 * }
 * ```
 */
export class OutOfRangeError extends RangeError {
  /** Always `'ERR_DB_OUT_OF_RANGE'`. */
  readonly code = 'ERR_DB_OUT_OF_RANGE' as const;
}

/**
 * A call that the object's state does not allow (`code` `ERR_DB_INVALID_STATE`): `listen()`
 * before `bind()`, a second `loop()` on one map, a read while another read waits, `spawn()` on a
 * finished task group. A bug in the calling code rather than a condition to handle.
 *
 * @example
 * ```ts
 * try {
 *   void reader.readLine();
 *   await reader.readLine(); // a second read while the first waits
 * } catch (error) {
 *   if (error instanceof InvalidStateError) console.log(error.code); // 'ERR_DB_INVALID_STATE'
 * }
 * ```
 */
export class InvalidStateError extends Error {
  /** Always `'ERR_DB_INVALID_STATE'`. */
  readonly code = 'ERR_DB_INVALID_STATE' as const;
}
