import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import PQueue from 'p-queue';
import { ConnectionClosedError, TimeoutError } from './errors.js';
import type { StreamReader } from './reader.js';
import type { Address, StreamWriter } from './writer.js';
import { wireSocket, type WiredStreams } from './_wire.js';
import { checkMilliseconds, checkPositiveInteger } from './_validate.js';
import { settlesWithin } from './_wait.js';

/** What a handler knows about its connection. */
export interface ConnectionContext {
  /**
   * Aborted when the handler should stop: the server's {@link Server.shutdown} ran out of time
   * (reason: `TimeoutError`), the connection was idle for `idleTimeout` (reason: `TimeoutError`),
   * or the connection closed (reason: `ConnectionClosedError`).
   */
  readonly signal: AbortSignal;
  /** A number unique within the server, from 1. */
  readonly id: number;
  /** The peer's address (`{ path }` of the server for Unix sockets). */
  readonly remoteAddress: Address;
}

/** Serves one connection; the connection closes when it returns (or throws). */
export type StreamHandler = (
  reader: StreamReader,
  writer: StreamWriter,
  context: ConnectionContext,
) => Promise<void> | void;

/** Options of {@link startServer}. Give `port` (and `host`) for TCP, or `path`. */
export interface ServerOptions {
  /** Address to listen on (default: all interfaces, as `net.Server`). */
  host?: string | undefined;
  /** TCP port; 0 (the default) picks a free one, see {@link Server.address}. */
  port?: number | undefined;
  /** Unix socket path (or Windows pipe name), instead of `host`/`port`. */
  path?: string | undefined;
  /** TLS options (at least `key` and `cert`) to serve over TLS. */
  tls?: tls.TlsOptions | undefined;
  /** Each reader's buffer limit (default 65536). */
  limit?: number | undefined;
  /** The listen backlog. */
  backlog?: number | undefined;
  /** Connections beyond this many open at once are closed as soon as they are accepted. */
  maxConnections?: number | undefined;
  /**
   * At most this many handlers run at once (p-queue); later connections wait their turn, their
   * input buffered under the reader's flow control.
   */
  concurrency?: number | undefined;
  /**
   * A connection without traffic (either direction) for this many ms is closed: its signal is
   * aborted and its reader fails, both with a `TimeoutError`.
   */
  idleTimeout?: number | undefined;
  /** Called (as well as the `'error'` event) when a handler throws or rejects. */
  onError?: ((error: unknown, context: ConnectionContext) => void) | undefined;
}

/** The events of {@link Server}. */
export interface ServerEvents {
  /** A handler threw or rejected (with its context), or the listening socket failed (no context). */
  error: [error: unknown, context: ConnectionContext | undefined];
  /** A connection was accepted. */
  connection: [context: ConnectionContext];
  /** The server stopped listening and every connection has closed. */
  close: [];
}

interface Connection {
  context: ConnectionContext;
  controller: AbortController;
  socket: net.Socket;
  streams: WiredStreams;
}

/**
 * An asyncio-style stream server, created by {@link startServer}.
 *
 * Each accepted connection gets a {@link StreamReader}, a {@link StreamWriter} and a
 * {@link ConnectionContext}, and runs the handler. The connection's lifetime is the handler's:
 * when the handler returns or throws, the writer is closed (asyncio leaves it open). A handler
 * that throws closes only its own connection and is reported through `'error'` and `onError`;
 * a rejection equal to its own `context.signal.reason` (the handler let our cancellation
 * propagate) is not reported.
 *
 * @example
 * ```ts
 * await using server = await startServer(async (reader, writer) => {
 *   for await (const line of reader) {
 *     writer.write(line);
 *     await writer.drain();
 *   }
 * }, { host: '127.0.0.1', port: 0 });
 * console.log(server.address());
 * ```
 */
export class Server extends EventEmitter<ServerEvents> implements AsyncDisposable {
  #handler: StreamHandler;
  #options: ServerOptions;
  #server: net.Server;
  #queue: PQueue | undefined;
  #connections = new Map<number, Connection>();
  // Every accepted TCP socket, including TLS ones still in their handshake (not yet in
  // #connections): net.Server's 'close' waits for them too, so a shutdown must be able to cut them.
  #sockets = new Set<net.Socket>();
  #nextId = 0;
  #listening = false;
  #closing = false;
  #serverClosed = false;
  #closed = false;
  #closeWaiters: (() => void)[] = [];

  /** Use {@link startServer}, which also starts listening. */
  constructor(handler: StreamHandler, options: ServerOptions = {}) {
    super();
    if (typeof handler !== 'function') {
      throw new TypeError(`Expected \`handler\` to be a function, got \`${typeof handler}\``);
    }
    if (options.limit !== undefined) checkPositiveInteger('limit', options.limit);
    if (options.concurrency !== undefined) checkPositiveInteger('concurrency', options.concurrency);
    if (options.maxConnections !== undefined) {
      checkPositiveInteger('maxConnections', options.maxConnections);
    }
    if (options.idleTimeout !== undefined) checkMilliseconds('idleTimeout', options.idleTimeout);
    this.#handler = handler;
    this.#options = options;
    this.#queue =
      options.concurrency === undefined
        ? undefined
        : new PQueue({ concurrency: options.concurrency });
    const onSocket = (socket: net.Socket): void => this.#accept(socket);
    // idleTimeout also bounds a TLS handshake that never happens (the socket reaches #accept()
    // only after it): Node's default allows 120 s.
    const idle = options.idleTimeout;
    const handshakeTimeout = idle !== undefined && idle > 0 ? Math.min(idle, 120_000) : undefined;
    this.#server = options.tls
      ? tls.createServer(
          { handshakeTimeout, ...options.tls, allowHalfOpen: true, noDelay: true },
          onSocket,
        )
      : net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
    if (options.maxConnections !== undefined) this.#server.maxConnections = options.maxConnections;
    this.#server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // A failed or timed-out TLS handshake: Node leaves that socket open unless a listener closes it.
    this.#server.on('tlsClientError', (_error: Error, socket: Duplex) => socket.destroy());
    this.#server.on('error', (error) => {
      if (this.#listening) this.emit('error', error, undefined);
    });
    this.#server.on('close', () => {
      this.#serverClosed = true;
      this.#checkClosed();
    });
  }

  /**
   * Starts listening (asyncio's `start_serving()`); {@link startServer} calls it for you.
   * Rejects with the listen error (e.g. `EADDRINUSE`).
   */
  startServing(): Promise<void> {
    if (this.#listening) return Promise.resolve();
    if (this.#closing)
      return Promise.reject(new Error('Cannot start serving: the server is closed'));
    const { host, port, path, backlog } = this.#options;
    return new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      const listenOptions: net.ListenOptions =
        path !== undefined ? { path, backlog } : { host, port: port ?? 0, backlog };
      this.#server.listen(listenOptions, () => {
        this.#server.off('error', onError);
        this.#listening = true;
        resolve();
      });
    });
  }

  /** The address the server listens on (the real port when `port` was 0). */
  address(): Address {
    const address = this.#server.address();
    if (address === null) throw new Error('Cannot get the address: the server is not listening');
    if (typeof address === 'string') return { path: address };
    return { host: address.address, port: address.port, family: address.family };
  }

  /** How many connections are open. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Whether the server is accepting connections. */
  get listening(): boolean {
    return this.#listening && !this.#closing;
  }

  /** Stops accepting connections; open connections go on. Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    // net.Server emits 'close' once it stopped listening and its last connection closed.
    this.#server.close();
  }

  /**
   * Resolves once the server has stopped listening ({@link close}) and every connection has
   * closed.
   */
  waitClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
  }

  /**
   * Graceful shutdown: stops accepting, waits for the handlers to finish and their connections to
   * close; when `timeout` ms pass first, aborts every handler's `context.signal` (reason: a
   * `TimeoutError`) and destroys every connection. Resolves once everything is closed. Without
   * `timeout`, waits as long as the handlers take.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void server.shutdown({ timeout: 10_000 }));
   * ```
   */
  async shutdown(options: { timeout?: number | undefined } = {}): Promise<void> {
    const ms =
      options.timeout === undefined ? undefined : checkMilliseconds('timeout', options.timeout);
    this.close();
    const closed = this.waitClosed();
    if (ms === undefined) return closed;
    if (!(await settlesWithin(closed, ms))) {
      const reason = new TimeoutError(ms, `Server shutdown: handlers still running after ${ms} ms`);
      for (const connection of this.#connections.values()) {
        if (!connection.controller.signal.aborted) connection.controller.abort(reason);
        connection.streams.fail(reason);
      }
      for (const socket of this.#sockets) socket.destroy();
      await closed;
    }
  }

  /** `await using server = await startServer(...)`: a {@link shutdown} without timeout. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const id = ++this.#nextId;
    const controller = new AbortController();
    const path = this.#options.path;
    const remoteAddress: Address =
      path !== undefined
        ? { path }
        : {
            host: socket.remoteAddress ?? '',
            port: socket.remotePort ?? 0,
            family: socket.remoteFamily ?? '',
          };
    const streams = wireSocket(
      socket,
      this.#options.limit,
      path === undefined ? undefined : { extraInfo: { peername: { path }, sockname: { path } } },
    );
    const context: ConnectionContext = { signal: controller.signal, id, remoteAddress };
    const connection: Connection = { context, controller, socket, streams };
    this.#connections.set(id, connection);
    socket.once('close', () => {
      this.#connections.delete(id);
      if (!controller.signal.aborted) {
        controller.abort(new ConnectionClosedError('Connection closed'));
      }
      this.#checkClosed();
    });
    const idle = this.#options.idleTimeout;
    if (idle !== undefined && idle > 0) {
      socket.setTimeout(idle);
      socket.once('timeout', () => {
        const reason = new TimeoutError(idle, `Connection idle for ${idle} ms`);
        if (!controller.signal.aborted) controller.abort(reason);
        streams.fail(reason);
      });
    }
    this.emit('connection', context);
    if (this.#queue === undefined) void this.#run(connection);
    else void this.#queue.add(() => this.#run(connection)).catch(() => undefined);
  }

  // Runs the handler of one connection; never rejects.
  async #run(connection: Connection): Promise<void> {
    const { context, controller, streams } = connection;
    // Cut off (shutdown, idle, peer gone) while waiting for its turn: do not start the handler.
    if (controller.signal.aborted) {
      streams.writer.close();
      return;
    }
    try {
      await this.#handler(streams.reader, streams.writer, context);
    } catch (error) {
      if (!(controller.signal.aborted && error === controller.signal.reason)) {
        this.#report(error, context);
      }
    } finally {
      streams.writer.close();
    }
  }

  // Closed = the listener is closed and the last connection is gone ('close' of net.Server may
  // come before the last socket's own 'close').
  #checkClosed(): void {
    if (this.#closed || !this.#serverClosed || this.#connections.size > 0) return;
    this.#closed = true;
    const waiters = this.#closeWaiters;
    this.#closeWaiters = [];
    for (const resolve of waiters) resolve();
    this.emit('close');
  }

  #report(error: unknown, context: ConnectionContext): void {
    this.emit('error', error, context);
    const onError = this.#options.onError;
    if (onError !== undefined) {
      try {
        onError(error, context);
      } catch {
        // An onError that throws must not take the server down; the 'error' event already
        // carried the handler's error.
      }
    }
  }
}

/**
 * Starts a stream server (asyncio's `start_server()`), listening once the promise resolves.
 *
 * @example
 * ```ts
 * const server = await startServer(
 *   async (reader, writer, { signal }) => {
 *     for (;;) {
 *       const line = await reader.readLine({ signal });
 *       if (line.length === 0) break;
 *       writer.write(line);
 *       await writer.drain({ signal });
 *     }
 *   },
 *   { host: '127.0.0.1', port: 8888, concurrency: 100, idleTimeout: 60_000 },
 * );
 * // later
 * await server.shutdown({ timeout: 5_000 });
 * ```
 */
export async function startServer(
  handler: StreamHandler,
  options: ServerOptions = {},
): Promise<Server> {
  const server = new Server(handler, options);
  await server.startServing();
  return server;
}
