/**
 * The handler-level adapters: a legacy handler class serves connections of a modern server
 * (`asStreamHandler`), and an async stream handler serves connections accepted by a legacy
 * listening dispatcher (`asDispatcherClass`).
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { Dispatcher, type DispatcherOptions } from '../legacy/dispatcher.js';
import { loop } from '../legacy/loop.js';
import { SocketMap } from '../legacy/socket-map.js';
import type { StreamReader } from '../modern/reader.js';
import type { ConnectionContext, StreamHandler } from '../modern/server.js';
import type { StreamWriter } from '../modern/writer.js';
import {
  bridgeOf,
  checkOptionalPositiveInteger,
  type BridgeOptions,
} from './_dispatcher-bridge.js';
import { StreamDuplex } from './_stream-duplex.js';
import { LegacySession } from './_legacy-session.js';
import { DispatcherRun } from './_dispatcher-run.js';
import { readPeerOnce } from '../_core/address.js';
import { HandlerRunner } from '../_core/runner.js';
import { optionalMs, optionalPositive } from '../_core/server-options.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * A legacy handler class as {@link asStreamHandler} constructs it: with the connection as
 * `socket` and the map its loop drives.
 *
 * @example
 * ```ts
 * const Handler: LegacyHandlerClass = EchoHandler; // class EchoHandler extends Dispatcher {}
 * ```
 */
export type LegacyHandlerClass = new (options: LegacyHandlerOptions) => Dispatcher;

/**
 * What a {@link LegacyHandlerClass} is constructed with. `shadow` is true when the mixed server
 * runs it as a shadow (its output is compared, never sent): a handler can skip side effects.
 *
 * @example
 * ```ts
 * class Chat extends AsyncChat {
 *   readonly isShadow: boolean;
 *   constructor(options: LegacyHandlerOptions) {
 *     super(options);
 *     this.isShadow = options.shadow === true;
 *   }
 * }
 * ```
 */
export interface LegacyHandlerOptions {
  /** The connection (a Duplex with a socket's addresses and methods). */
  socket: Duplex;
  /** The map whose loop drives the handler. */
  map: SocketMap;
  /** True when the handler runs as a mixed server's shadow. */
  shadow?: boolean | undefined;
}

/**
 * Options of {@link asStreamHandler}.
 *
 * @example
 * ```ts
 * const options: AsStreamHandlerOptions = { map: new SocketMap(), highWaterMark: 64 * 1024 };
 * ```
 */
export interface AsStreamHandlerOptions {
  /**
   * The map the handlers join (they see each other in `this.map`, as asyncore handlers share
   * `socket_map`). A `loop()` on it is started whenever a connection arrives and none runs, and
   * ends when the map is empty. Default: a new map for this handler.
   */
  map?: SocketMap | undefined;
  /**
   * Bytes the connection's Duplex buffers in each direction between the handler and the
   * reader/writer (default 65536).
   */
  highWaterMark?: number | undefined;
}

const swallow = (): void => {};

/**
 * Serve the connections of a modern server (`startServer`) with an unmodified legacy handler
 * class (a {@link Dispatcher}, `DispatcherWithSend` or `AsyncChat` subclass).
 *
 * For each connection, the class is constructed with `{ socket, map }`: `socket` is a Duplex that
 * reads from the connection's `StreamReader` and writes to its `StreamWriter` (bytes the reader
 * already holds are delivered first), with `remoteAddress`/`remotePort`/`address()` like a
 * `net.Socket`; `map` is a map driven by a `loop()` the adapter runs. The returned handler
 * resolves when the dispatcher has closed and the connection is closed.
 *
 * - Backpressure both ways: while the dispatcher's `readable()` is false the reader is not read,
 *   so it pauses the socket; while the socket is congested `send()` takes fewer bytes (or none).
 * - The peer's end-of-stream reaches the dispatcher as usual (`recv()` returns an empty Buffer,
 *   then `handleClose()`); a reset is a `handleClose()` too. Other failures of the connection
 *   (`idleTimeout`, a `shutdown()` that ran out of time) reach `handleError()`.
 * - `context.signal` aborting closes the dispatcher; the dispatcher closing closes the connection.
 * - Errors of the legacy handler go to its `handleError()`, as in a legacy server; they do not
 *   reject the stream handler. A constructor that throws rejects it (the server reports it).
 *
 * @throws {TypeError} If `HandlerClass` is not a constructor, or an option is invalid.
 *
 * @example
 * ```ts
 * class Echo extends DispatcherWithSend {
 *   override handleRead() { const data = this.recv(65536); if (data.length) this.send(data); }
 * }
 * const server = await startServer(asStreamHandler(Echo), { host: '127.0.0.1', port: 0 });
 * // ... later
 * await server.shutdown({ timeout: 1_000 });
 * ```
 */
export function asStreamHandler(
  HandlerClass: LegacyHandlerClass,
  options: AsStreamHandlerOptions = {},
): StreamHandler {
  if (typeof HandlerClass !== 'function' || HandlerClass.prototype === undefined) {
    throw new InvalidArgumentError(
      `Expected \`HandlerClass\` to be a Dispatcher class, got \`${String(HandlerClass)}\` (${typeof HandlerClass})`,
    );
  }
  checkOptionalPositiveInteger('highWaterMark', options.highWaterMark);
  if (options.map !== undefined && !(options.map instanceof SocketMap)) {
    throw new InvalidArgumentError(
      `Expected \`map\` to be a SocketMap, got \`${String(options.map)}\` (${typeof options.map})`,
    );
  }
  const map = options.map ?? new SocketMap();
  const highWaterMark = options.highWaterMark ?? 65536;
  return (reader, writer, context) => {
    const socket = new StreamDuplex(reader, writer, context.remoteAddress, highWaterMark);
    let dispatcher: Dispatcher;
    try {
      dispatcher = new HandlerClass({ socket, map });
    } catch (error) {
      // The half-built dispatcher may have joined the map already: take it out.
      for (const member of map) if (member.socket === socket) member.close();
      socket.destroy();
      // The handler rejects with what the constructor threw, whatever it is.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
    const session = new LegacySession(dispatcher, socket);
    // The loop ends when the map is empty; the next connection starts it again.
    if (!map.looping) loop({ map }).catch(swallow);
    session.watchSignal(context);
    return session.done;
  };
}

/**
 * Options of {@link asDispatcherClass}.
 *
 * @example
 * ```ts
 * const options: AsDispatcherClassOptions = { limit: 16 * 1024 };
 * ```
 */
export interface AsDispatcherClassOptions extends BridgeOptions {
  /**
   * At most this many handlers of this class run at once; later connections wait their turn,
   * their input under flow control. A slot is freed as soon as its connection is gone.
   */
  concurrency?: number | undefined;
  /**
   * A connection without traffic for this many ms while its handler runs is closed: its signal
   * is aborted and its reader fails with a `TimeoutError` (counted from the handler's start).
   */
  idleTimeout?: number | undefined;
  /**
   * With `concurrency`: a connection that has waited this many ms for a slot is refused (closed,
   * its signal aborted with a `TimeoutError`, counted as `refused` in its map's `stats()`), so
   * hoarders cannot keep new clients waiting forever. Default: wait as long as it takes.
   */
  queueTimeout?: number | undefined;
}

/**
 * A dispatcher that runs an async stream handler on its connection; the class
 * {@link asDispatcherClass} returns.
 *
 * @example
 * ```ts
 * const connection: StreamHandlerDispatcher = new (asDispatcherClass(handler))({ socket, map });
 * console.log(connection.context.id);
 * ```
 */
export interface StreamHandlerDispatcher extends Dispatcher {
  /** The handler's reader (from {@link toStreams}). */
  readonly reader: StreamReader;
  /** The handler's writer. */
  readonly writer: StreamWriter;
  /** What the handler got as its third argument. */
  readonly context: ConnectionContext;
}

/**
 * The constructor {@link asDispatcherClass} returns.
 *
 * @example
 * ```ts
 * const Handler: StreamHandlerDispatcherClass = asDispatcherClass(handler);
 * ```
 */
export type StreamHandlerDispatcherClass = new (
  options?: DispatcherOptions,
) => StreamHandlerDispatcher;

/**
 * Serve the connections accepted by a legacy listening dispatcher with an async stream handler
 * `(reader, writer, context) => Promise<void>`, the same function `startServer` takes.
 *
 * Returns a {@link Dispatcher} subclass. Construct it in `handleAccepted()`, with the accepted
 * socket and the listener's map (the loop that drives the listener drives the connections too):
 *
 * ```ts
 * const Connection = asDispatcherClass(handler);
 * class Listener extends Dispatcher {
 *   override handleAccepted(socket: Duplex) {
 *     new Connection({ socket, map: this.map });
 *   }
 * }
 * ```
 *
 * Each instance adapts itself with {@link toStreams} and calls the handler (in a microtask, after
 * the constructor returned), through the same runner as `startServer` (`concurrency` and
 * `idleTimeout` options, counted from the handler's start). When the handler returns, the writer
 * is closed: queued bytes are sent, then the dispatcher closes (gracefully, lingering: see
 * `startServer`). When it throws or rejects, the error goes to this connection's `handleError()`
 * (default: log it and close), from within the loop, even while the socket is congested, and the
 * `'error'` event follows; no other connection is affected. A rejection with
 * `context.signal.reason` (the handler let the adapter's cancellation through), or a
 * `ConnectionClosedError` after its client went away, is not reported, nor is an error of a
 * handler whose connection is already closed (no handler runs after `close()`).
 * `context.signal` aborts, with a `ConnectionClosedError`, when the connection closes;
 * `context.id` counts connections of this class from 1.
 *
 * Subclass the returned class to override `handleError()` or `logInfo()`. Reading and writing
 * belong to the stream bridge (no method of the instance is replaced: its dispatch path reads
 * and writes for the handler), so overriding `readable`, `writable`, `handleRead` or
 * `handleWrite` has no effect.
 *
 * @throws {TypeError} If `handler` is not a function, or an option is not a positive integer.
 *
 * @example
 * ```ts
 * const Connection = asDispatcherClass(async (reader, writer) => {
 *   for await (const line of reader) {
 *     writer.write(line);
 *     await writer.drain();
 *   }
 * });
 * class Listener extends Dispatcher {
 *   override handleAccepted(socket: Duplex) { new Connection({ socket, map: this.map }); }
 * }
 * const listener = new Listener();
 * listener.bind({ host: '127.0.0.1', port: 0 });
 * await listener.listen();
 * const done = loop();
 * ```
 */
export function asDispatcherClass(
  handler: StreamHandler,
  options: AsDispatcherClassOptions = {},
): StreamHandlerDispatcherClass {
  if (typeof handler !== 'function') {
    throw new InvalidArgumentError(
      `Expected \`handler\` to be a function, got \`${String(handler)}\` (${typeof handler})`,
    );
  }
  checkOptionalPositiveInteger('limit', options.limit);
  checkOptionalPositiveInteger('highWaterMark', options.highWaterMark);
  const bridgeOptions: BridgeOptions = {
    limit: options.limit,
    highWaterMark: options.highWaterMark,
  };
  const runner = new HandlerRunner({
    concurrency: optionalPositive('concurrency', options.concurrency),
    idleTimeout: optionalMs('idleTimeout', options.idleTimeout),
    queueTimeout: optionalMs('queueTimeout', options.queueTimeout),
  });
  let nextId = 0;

  // reader, writer and context are the run's (found through the dispatcher's delegate), not three
  // fields more per connection.
  return class HandlerDispatcher extends Dispatcher implements StreamHandlerDispatcher {
    constructor(dispatcherOptions: DispatcherOptions = {}) {
      super(dispatcherOptions);
      // One object is the bridge, the run and the source of the context's signal (whose
      // AbortController is made only if someone asks for it).
      const run = new DispatcherRun(
        this,
        bridgeOptions,
        handler,
        ++nextId,
        // Kept by the context: Node's copy of it on the socket is not (readPeerOnce).
        readPeerOnce(this.socket) ?? { path: '' },
      );
      queueMicrotask(() => void runner.run(run));
    }

    get reader(): StreamReader {
      return (bridgeOf(this) as DispatcherRun).reader;
    }

    get writer(): StreamWriter {
      return (bridgeOf(this) as DispatcherRun).writer;
    }

    get context(): ConnectionContext {
      return (bridgeOf(this) as DispatcherRun).context;
    }
  };
}
