/**
 * The dispatcher-to-streams adapter: modern code reads and writes a connection that a legacy
 * dispatcher owns (`toStreams`).
 *
 * @module
 */
import type { Dispatcher } from '../legacy/dispatcher.js';
import type { StreamReader } from '../modern/reader.js';
import type { StreamWriter } from '../modern/writer.js';
import { DispatcherBridge, type BridgeOptions } from './_dispatcher-bridge.js';

/**
 * Options of {@link toStreams}.
 *
 * @example
 * ```ts
 * const options: ToStreamsOptions = { limit: 16 * 1024, highWaterMark: 64 * 1024 };
 * ```
 */
export type ToStreamsOptions = BridgeOptions;

/**
 * The reader and writer {@link toStreams} returns.
 *
 * @example
 * ```ts
 * const { reader, writer }: DispatcherStreams = toStreams(dispatcher);
 * ```
 */
export interface DispatcherStreams {
  /** Reads what the dispatcher receives. */
  reader: StreamReader;
  /** Writes through the dispatcher's `send()`. */
  writer: StreamWriter;
}

/**
 * Read and write the connection of a legacy {@link Dispatcher} with a `StreamReader` and a
 * `StreamWriter` (what asyncio's `StreamReaderProtocol` does for a transport).
 *
 * The dispatcher must be connected (or connecting, after `connect()`), in a map that a `loop()`
 * drives: the bytes reach the reader from the dispatcher's `handleRead()`, and partial sends are
 * finished from its `handleWrite()`. `toStreams` takes over the dispatcher's reading and writing
 * through an internal hook of the dispatcher (its `readable()`, `writable()`, `handleRead()` and
 * `handleWrite()` are no longer called; nothing on the instance is replaced); its class's
 * `handleConnect()`, `handleClose()` and `handleError()` still run, inside `loop()` only.
 *
 * - Reading: `recv()` feeds the reader; while the reader holds more than 2 × `limit` bytes,
 *   `readable()` is false, so the dispatcher stops reading and TCP pushes back on the peer.
 *   The peer's end-of-stream ends the reader and leaves the connection open for writing (a
 *   half-close); close it with `writer.close()`.
 * - Writing: writes go through the dispatcher's `send()`; what the transport does not take is
 *   sent from `handleWrite()`, and `drain()` waits while more than `highWaterMark` bytes are
 *   queued. `writer.close()` sends what is queued, then closes the dispatcher (through its
 *   `handleClose()`, in the next loop round); `writer.writeEof()` half-closes; `writer.abort()`
 *   resets.
 * - Closing: the dispatcher closing for any reason (its `close()`, the peer, a reset) ends the
 *   reader (a reset: reads reject with `ConnectionClosedError`, the socket error as `cause`) and
 *   closes the writer (`drain()` and `write()` then reject with `ConnectionClosedError`). Each side
 *   closes exactly once. `waitClosed()` resolves once the dispatcher has closed and its socket
 *   is released: its graceful close sends what was written, then lingers at most
 *   `lingerTimeout` (a dispatcher option) without progress, so it settles even when the peer
 *   never reads.
 * - Errors: when the dispatcher's `handleError()` runs (a transport error such as
 *   `ECONNREFUSED`), pending and later reads reject with that error; the dispatcher then closes.
 *
 * @throws {TypeError} If `dispatcher` is not a Dispatcher, or an option is not a positive integer.
 * @throws {Error} If the dispatcher is closed, listening, has no socket, or is already adapted.
 *
 * To run a whole `(reader, writer, context)` handler per accepted connection, with its errors
 * reported to `handleError()`, use `asDispatcherClass()` instead.
 *
 * @example
 * ```ts
 * class Server extends Dispatcher {
 *   override handleAccepted(socket: Duplex) {
 *     const { reader, writer } = toStreams(new Dispatcher({ socket, map: this.map }));
 *     void (async () => {
 *       for await (const line of reader) {
 *         writer.write(line);
 *         await writer.drain();
 *       }
 *       writer.close();
 *     })().catch(() => writer.abort());
 *   }
 * }
 * ```
 */
export function toStreams(
  dispatcher: Dispatcher,
  options: ToStreamsOptions = {},
): DispatcherStreams {
  const bridge = new DispatcherBridge(dispatcher, options);
  return { reader: bridge.reader, writer: bridge.writer };
}
