import type net from 'node:net';
import type tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import { InvalidArgumentError, InvalidStateError } from './errors.js';
import type { StreamReader } from './reader.js';
import type { Address, StreamWriter } from './writer.js';
import { ServedConnection, type ServedHost } from './_served.js';
import { deliverClose } from './_wire.js';
import { checkMilliseconds } from './_validate.js';
import { channels, publish } from '../_core/observe.js';
import { reportHandlerError } from '../_core/report.js';
import type { ConnectionStats } from '../_core/stats.js';

export type { ConnectionStats } from '../_core/stats.js';
import { HandlerRunner } from '../_core/runner.js';
import { ServerCore } from '../_core/server-core.js';
import { checkServerOptions } from '../_core/server-options.js';
import { ownSocketErrors } from '../_core/listener.js';

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
  /**
   * True when this handler runs as the shadow of a mixed server (its output is compared, never
   * sent to the client): skip side effects such as writes to a database. Absent or false
   * otherwise.
   */
  readonly shadow?: boolean;
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
  /** TLS options (at least `key` and `cert`, or `pfx`) to serve over TLS. */
  tls?: tls.TlsOptions | undefined;
  /** Each reader's buffer limit (default 65536). */
  limit?: number | undefined;
  /** The listen backlog. */
  backlog?: number | undefined;
  /**
   * Connections beyond this many open at once (closing ones still lingering included) are
   * closed as soon as they are accepted.
   */
  maxConnections?: number | undefined;
  /**
   * At most this many handlers run at once (p-queue); later connections wait their turn, their
   * input buffered under the reader's flow control. A handler holds its slot while it runs and
   * its connection is there: a slot is freed as soon as the connection is gone (its signal is
   * aborted), even if the handler hangs.
   */
  concurrency?: number | undefined;
  /**
   * With `concurrency`: how long a connection may wait for a slot, in ms; then it is refused
   * (closed without its handler running). Default: as long as it takes.
   */
  queueTimeout?: number | undefined;
  /**
   * A connection without traffic (either direction) for this many ms while its handler runs is
   * closed: its signal is aborted and its reader fails, both with a `TimeoutError`. The clock
   * starts with the handler, not while the connection waits for a `concurrency` slot.
   */
  idleTimeout?: number | undefined;
  /**
   * A TLS handshake not finished within this many ms is cut off (default 10000; Node's own
   * default is 120 s). A failed handshake, or a client that ends its side during it, is closed
   * at once.
   */
  handshakeTimeout?: number | undefined;
  /**
   * How long a closing connection lingers, in ms (default 5000): after the handler returned,
   * the server sends what it wrote, ends its side and reads and discards input until the peer
   * ends too, so that a close never truncates a reply; a peer that takes no bytes, or keeps its
   * side open, for this long is cut off.
   */
  lingerTimeout?: number | undefined;
  /**
   * Behind a load balancer: each connection starts with HAProxy's PROXY protocol header (`'v1'`
   * text, `'v2'` binary, or `'any'`), read before the handler sees a byte; the client's address
   * from it is the connection's everywhere (context, `getExtraInfo('peername')`, routes). A
   * bad, missing or untrusted header closes the connection and is reported through `'error'`
   * (a `ProxyProtocolError` with code `ERR_DB_PROXY_HEADER`, `ERR_DB_PROXY_UNTRUSTED` or
   * `ERR_DB_PROXY_TIMEOUT`; the wait is bounded by `handshakeTimeout`); a `LOCAL` header (a
   * health check) is closed without a handler. With `tls`, the header is read off the raw TCP
   * connection before the handshake.
   */
  proxyProtocol?: 'v1' | 'v2' | 'any' | undefined;
  /**
   * With `proxyProtocol`: the balancers allowed to send the header, as addresses or CIDR ranges
   * (IPv4, IPv6) and `'unix'`. Default: loopback (and Unix-socket peers).
   */
  trustedProxies?: readonly string[] | undefined;
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

/**
 * An asyncio-style stream server, created by {@link startServer}.
 *
 * Each accepted connection gets a {@link StreamReader}, a {@link StreamWriter} and a
 * {@link ConnectionContext}, and runs the handler. The connection's lifetime is the handler's:
 * when the handler returns or throws, the writer is closed (asyncio leaves it open) — gracefully:
 * everything written arrives, then the connection lingers until the peer ends its side (bounded
 * by `lingerTimeout`). A handler that throws closes only its own connection and is reported
 * through `'error'` and `onError` (printed to stderr when nobody listens); a rejection with its
 * own `context.signal.reason`, or a `ConnectionClosedError` after its client went away, is not
 * reported.
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
  readonly #handler: StreamHandler;
  readonly #onError: ServerOptions['onError'];
  readonly #core: ServerCore;
  readonly #runner: HandlerRunner;
  // What every connection of this server calls back (one object, not closures per connection).
  readonly #host: ServedHost = {
    handler: (reader, writer, context) => this.#handler(reader, writer, context),
    report: (error, context) => this.#report(error, context),
    refused: () => this.#core.refused(),
    closed: (connection) => this.#core.delete(connection),
  };

  /** Use {@link startServer}, which also starts listening. */
  constructor(handler: StreamHandler, options: ServerOptions = {}) {
    super();
    if (typeof handler !== 'function') {
      throw new InvalidArgumentError(
        `Expected \`handler\` to be a function, got \`${typeof handler}\``,
      );
    }
    const limits = checkServerOptions(options);
    this.#handler = handler;
    this.#onError = options.onError;
    this.#runner = new HandlerRunner({
      concurrency: limits.concurrency,
      idleTimeout: limits.idleTimeout,
      queueTimeout: limits.queueTimeout,
    });
    this.#core = new ServerCore(limits, {
      layer: 'modern',
      accept: (socket) => this.#accept(socket),
      error: (error) => this.emit('error', error, undefined),
      closed: () => this.emit('close'),
      // A connection's 'close' comes through the core's listener of its socket (see Wire).
      socketClosed: deliverClose,
    });
  }

  /**
   * Starts listening (asyncio's `start_serving()`); {@link startServer} calls it for you.
   * Rejects with the listen error (e.g. `EADDRINUSE`), or with an `AbortError` (code
   * `ERR_DB_ABORTED`) when {@link close} or {@link shutdown} came first; nothing listens then.
   */
  startServing(): Promise<void> {
    return this.#core.start();
  }

  /** The address the server listens on (the real port when `port` was 0). */
  address(): Address {
    const address = this.#core.addresses()[0];
    if (address === undefined) {
      throw new InvalidStateError('Cannot get the address: the server is not listening');
    }
    return address;
  }

  /**
   * A snapshot of the server's counters: accepted, active, closed, refused, bytesIn, bytesOut,
   * handlerErrors.
   *
   * @example
   * ```ts
   * const { active, handlerErrors } = server.stats();
   * ```
   */
  stats(): ConnectionStats {
    return this.#core.stats();
  }

  /** How many connections are open (their handler running, or their close lingering). */
  get connections(): number {
    return this.#core.size;
  }

  /** Whether the server is accepting connections. */
  get listening(): boolean {
    return this.#core.listening;
  }

  /** Stops accepting connections; open connections go on. Idempotent. */
  close(): void {
    this.#core.close();
  }

  /**
   * Resolves once the server has stopped listening ({@link close}) and every connection has
   * closed (lingering closes included: no socket is left behind).
   */
  waitClosed(): Promise<void> {
    return this.#core.waitClosed();
  }

  /**
   * Graceful shutdown: stops accepting, waits for the handlers to finish and their connections to
   * close; when `timeout` ms pass first, aborts every handler's `context.signal` (reason: a
   * `TimeoutError`) and destroys every connection, TLS handshakes included. Resolves once
   * everything is closed. Without `timeout`, waits as long as the handlers take.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void server.shutdown({ timeout: 10_000 }));
   * ```
   */
  shutdown(options: { timeout?: number | undefined } = {}): Promise<void> {
    const ms =
      options.timeout === undefined ? undefined : checkMilliseconds('timeout', options.timeout);
    return this.#core.shutdown(ms);
  }

  /** `await using server = await startServer(...)`: a {@link shutdown} without timeout. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #accept(socket: net.Socket): void {
    const core = this.#core;
    const { path, limit, lingerTimeout } = core.limits;
    // A TCP peer's Address is made when asked for (see ServedConnection).
    const remoteAddress = path !== undefined ? { path } : undefined;
    // The wiring listens to the socket's errors from now on: the listener's placeholder goes
    // first (the socket's 'error' listeners then fit an array of two).
    ownSocketErrors(socket);
    const connection = new ServedConnection(
      this.#host,
      socket,
      core.nextId(),
      remoteAddress,
      limit,
      path === undefined
        ? { lingerTimeout }
        : { lingerTimeout, extraInfo: { peername: { path }, sockname: { path } } },
      core.tracksClose(socket),
    );
    core.add(connection);
    this.emit('connection', connection.context);
    void this.#runner.run(connection);
  }

  #report(error: unknown, context: ConnectionContext): void {
    this.#core.handlerError();
    publish(channels.handlerError, 'handler-error', { id: context.id, layer: 'modern', error });
    reportHandlerError(this, this.#onError, error, context, 'modern');
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
 *   { host: '127.0.0.1', port: 8888, concurrency: 100, queueTimeout: 5_000, idleTimeout: 10_000 },
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
