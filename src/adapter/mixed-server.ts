/**
 * The mixed-style server: one listening port, each connection served by a legacy handler class
 * or a modern stream handler, chosen by a routing rule, with an optional shadow run of the other
 * implementation whose output is compared with the primary's.
 *
 * @module
 */
import net from 'node:net';
import type { LegacyHandlerClass } from './handlers.js';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import { SocketMap } from '../legacy/socket-map.js';
import { loop } from '../legacy/loop.js';
import type { Dispatcher } from '../legacy/dispatcher.js';
import { fromDuplex } from '../modern/connection.js';
import { ConnectionClosedError, TimeoutError } from '../modern/errors.js';
import type { ConnectionContext, StreamHandler } from '../modern/server.js';
import type { Address } from '../modern/writer.js';
import { checkMilliseconds, checkPositiveInteger, describeValue } from '../modern/_validate.js';
import { settlesWithin } from '../modern/_wait.js';
import { duplexPair } from './_duplex-pair.js';
import { OutputComparator } from './_output-comparator.js';

/** The two implementations a connection can be routed to. */
export type Implementation = 'legacy' | 'modern';

/** What a routing rule knows about a connection. */
export interface RouteInfo {
  /** The connection's id, unique within the server, from 1 (the modern `context.id`). */
  readonly id: number;
  /**
   * The peer's address. IPv4 peers of a dual-stack listener are given as plain IPv4
   * (`127.0.0.1`, not `::ffff:127.0.0.1`); Unix-socket peers as the server's `{ path }`.
   */
  readonly remoteAddress: Address;
}

/**
 * Protocol sniffing: waits until the client has sent `bytes` bytes (or `timeout` ms passed, or
 * the client half-closed), then `choose(head, info)` decides. `head` is at most `bytes` long
 * (shorter after a timeout or end-of-stream; empty for a client that waits for the server to
 * speak first). The sniffed bytes are put back: the chosen handler reads them as if nobody had
 * looked.
 *
 * @example
 * ```ts
 * const route: SniffRule = {
 *   by: 'sniff',
 *   bytes: 4,
 *   choose: (head) => (head.toString('latin1') === 'V2: ' ? 'modern' : 'legacy'),
 * };
 * ```
 */
export interface SniffRule {
  by: 'sniff';
  /** How many bytes to wait for (a positive integer). */
  bytes: number;
  /** How long to wait for them, in ms. @default 1000 */
  timeout?: number | undefined;
  choose(head: Buffer, info: RouteInfo): Implementation;
}

/**
 * Routing by the peer's address (see {@link RouteInfo.remoteAddress}).
 *
 * @example
 * ```ts
 * const route: AddressRule = {
 *   by: 'address',
 *   choose: (address) => ('host' in address && address.host === '::1' ? 'modern' : 'legacy'),
 * };
 * ```
 */
export interface AddressRule {
  by: 'address';
  choose(address: Address, info: RouteInfo): Implementation;
}

/**
 * A canary: a fraction `modern` (0 to 1) of the connections goes to the modern handler, the rest
 * to the legacy class. Without `random` the split is exact and deterministic: connection *k*
 * (counting from 1 in routing order) is modern when `floor(k × modern)` grows, so `0.5`
 * alternates legacy, modern, legacy, ... and `0.1` sends every tenth connection to modern. With
 * `random` (e.g. `Math.random`, or a seeded generator in tests) each connection is modern when
 * `random() < modern`.
 *
 * @example
 * ```ts
 * const route: FractionRule = { by: 'fraction', modern: 0.1 };
 * ```
 */
export interface FractionRule {
  by: 'fraction';
  modern: number;
  random?: (() => number) | undefined;
}

/**
 * How {@link startMixedServer} chooses the implementation of each connection: a constant
 * (everything to one side, handy with shadow mode), a sniff, address or fraction rule, or a
 * function of the connection. A rule that throws or returns something else closes only that
 * connection and is reported through `'error'` (role `'route'`).
 *
 * @example
 * ```ts
 * const byId: RouteRule = ({ id }) => (id % 2 === 0 ? 'modern' : 'legacy');
 * ```
 */
export type RouteRule =
  Implementation | SniffRule | AddressRule | FractionRule | ((info: RouteInfo) => Implementation);

/**
 * Shadow mode: each connection also runs the other implementation, over an in-memory duplex, on a
 * copy of the client's input; only the primary's output reaches the client.
 *
 * @example
 * ```ts
 * const shadow: ShadowOptions = { maxBuffered: 256 * 1024, window: 16, grace: 2_000 };
 * ```
 */
export interface ShadowOptions {
  /**
   * The most bytes the shadow may lag behind: input copied to it but not yet read by it, and
   * output of one side not yet matched by the other. Past it the shadow of that connection is
   * dropped (`'shadowDropped'`, reason `'input-overrun'` or `'output-overrun'`). @default 1 MiB
   */
  maxBuffered?: number | undefined;
  /** Bytes of context on each side of a divergence in the report. @default 32 */
  window?: number | undefined;
  /**
   * After the primary's connection closed, how long (ms) the shadow may take to finish its
   * output; then it is dropped (reason `'timeout'`). @default 1000
   */
  grace?: number | undefined;
}

/** Options of {@link startMixedServer}. Give `port` (and `host`) for TCP, or `path`. */
export interface MixedServerOptions {
  /** The legacy handler class. */
  legacy: LegacyHandlerClass;
  /** The modern handler, run as `startServer` runs it (the connection closes when it returns). */
  modern: StreamHandler;
  /** How each connection is routed. */
  route: RouteRule;
  /** Shadow mode (`true` for the defaults of {@link ShadowOptions}). @default false */
  shadow?: boolean | ShadowOptions | undefined;
  /**
   * Address(es) to listen on; several (e.g. `['127.0.0.1', '::1']`) share one port, as asyncio's
   * `start_server(host=[...])`. @default all interfaces
   */
  host?: string | readonly string[] | undefined;
  /** TCP port; 0 (the default) picks a free one, see {@link MixedServer.address}. */
  port?: number | undefined;
  /** Unix socket path (or Windows pipe name), instead of `host`/`port`. */
  path?: string | undefined;
  /** TLS options (at least `key` and `cert`) to serve over TLS. */
  tls?: tls.TlsOptions | undefined;
  /** The listen backlog. */
  backlog?: number | undefined;
  /** The modern readers' buffer limit (default 65536). */
  limit?: number | undefined;
  /**
   * Called (as well as the `'error'` event) for every error of a connection: a rule, a handler
   * or a shadow that failed. One that throws is ignored.
   */
  onError?: ((error: unknown, info: MixedErrorInfo) => void) | undefined;
  /** The legacy loop's `timeout` (ms between predicate checks when nothing happens). @default 30000 */
  loopTimeout?: number | undefined;
}

/** The `'route'` event: a connection was routed. */
export interface RouteEvent extends RouteInfo {
  /** The implementation that serves the client. */
  readonly implementation: Implementation;
  /** The implementation that runs as a shadow, if shadow mode is on. */
  readonly shadow: Implementation | undefined;
}

/** Which part of a connection an `'error'` comes from. */
export type ErrorRole = 'route' | 'primary' | 'shadow';

/** The second argument of the `'error'` event (absent for errors of the listening socket). */
export interface MixedErrorInfo extends RouteInfo {
  readonly role: ErrorRole;
  /** The implementation that failed (undefined for the routing rule). */
  readonly implementation: Implementation | undefined;
}

/** The `'divergence'` event: the shadow's output differs from the primary's. */
export interface DivergenceReport {
  /** The connection's id. */
  readonly id: number;
  /** The offset of the first byte that differs (or that one output has past the other's end). */
  readonly offset: number;
  /** The offset of the first byte of `primary` and `shadow`: up to `window` bytes before `offset`. */
  readonly start: number;
  /** The primary's output from `start`: the equal context, then up to `window` bytes from `offset`. */
  readonly primary: Buffer;
  /** The shadow's output from `start`, likewise. */
  readonly shadow: Buffer;
  /** Which implementation produced `primary` (the other one produced `shadow`). */
  readonly primaryImplementation: Implementation;
}

/** Why a shadow stopped before its output could be compared to the end. */
export type ShadowDropReason =
  'input-overrun' | 'output-overrun' | 'error' | 'timeout' | 'incomplete' | 'shutdown';

/** The `'shadowDropped'` event. */
export interface ShadowDropReport {
  readonly id: number;
  /** The shadow's implementation. */
  readonly implementation: Implementation;
  /**
   * `'input-overrun'` / `'output-overrun'`: it lagged more than `maxBuffered`; `'error'`: it
   * threw (also reported through `'error'`, role `'shadow'`); `'timeout'`: it had not finished
   * `grace` ms after the connection closed; `'incomplete'`: the connection closed before the
   * primary finished its output (nothing to compare); `'shutdown'`: a forced shutdown.
   */
  readonly reason: ShadowDropReason;
}

/** The events of {@link MixedServer}. */
export interface MixedServerEvents {
  /** A connection was routed (after sniffing, if any). */
  route: [event: RouteEvent];
  /** A handler, a rule or the listener failed; only the connection concerned is closed. */
  error: [error: unknown, info: MixedErrorInfo | undefined];
  /** Shadow mode: the outputs differ (at most once per connection; the shadow then stops). */
  divergence: [report: DivergenceReport];
  /** Shadow mode: a shadow was stopped before its output could be compared to the end. */
  shadowDropped: [report: ShadowDropReport];
  /** The server stopped listening and every connection (and shadow) has closed. */
  close: [];
}

interface Run {
  /** Stops the implementation now: modern signal aborted with `reason`, dispatcher closed. */
  stop(reason: unknown): void;
}

interface Shadow {
  connection: Connection;
  implementation: Implementation;
  run: Run | undefined;
  input: Duplex;
  inner: Duplex;
  comparator: OutputComparator;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

interface Connection {
  info: RouteInfo;
  socket: net.Socket;
  implementation: Implementation | undefined;
  primary: Run | undefined;
  shadow: Shadow | undefined;
  cancelSniff: (() => void) | undefined;
  /** Shadow mode: the primary's output has all been passed to the client. */
  primaryOutputEnded: boolean;
  /** Shadow mode: closes the primary's in-memory transport once the socket is gone. */
  closePrimaryTransport: (() => void) | undefined;
}

const DEFAULT_SNIFF_TIMEOUT = 1_000;
const DEFAULT_MAX_BUFFERED = 1024 * 1024;
const DEFAULT_WINDOW = 32;
const DEFAULT_GRACE = 1_000;
// The in-memory pairs of the shadows: half-open like the accepted sockets; bytes written to an
// end that is gone are dropped (its close already told the story) rather than failing the writer.
const PAIR_OPTIONS = {
  highWaterMark: 64 * 1024,
  allowHalfOpen: true,
  writeToGonePeer: 'discard',
} as const;

const ignore = (): void => {};

function other(implementation: Implementation): Implementation {
  return implementation === 'legacy' ? 'modern' : 'legacy';
}

function isImplementation(value: unknown): value is Implementation {
  return value === 'legacy' || value === 'modern';
}

// True once the readable side has received end-of-stream, even if 'end' is not emitted yet (it is
// emitted on the next tick after the last read(); putting bytes back before then cancels it).
function receivedEof(stream: Duplex): boolean {
  const state = (stream as unknown as { _readableState?: { ended?: unknown } })._readableState;
  return stream.readableEnded || state?.ended === true;
}

function peerAddress(socket: net.Socket, path: string | undefined): Address {
  if (path !== undefined) return { path };
  let host = socket.remoteAddress ?? '';
  let family = socket.remoteFamily ?? '';
  if (host.startsWith('::ffff:') && net.isIPv4(host.slice(7))) {
    host = host.slice(7);
    family = 'IPv4';
  }
  return { host, port: socket.remotePort ?? 0, family };
}

function checkRoute(route: unknown): RouteRule {
  if (isImplementation(route) || typeof route === 'function') return route as RouteRule;
  if (typeof route === 'object' && route !== null && 'by' in route) {
    const rule = route as { by: unknown } & Record<string, unknown>;
    if (rule.by === 'sniff') {
      checkPositiveInteger('route.bytes', rule.bytes);
      if (rule.timeout !== undefined) checkMilliseconds('route.timeout', rule.timeout);
      if (typeof rule.choose !== 'function') {
        throw new TypeError(
          `Expected \`route.choose\` to be a function, got ${describeValue(rule.choose)}`,
        );
      }
      return route as SniffRule;
    }
    if (rule.by === 'address') {
      if (typeof rule.choose !== 'function') {
        throw new TypeError(
          `Expected \`route.choose\` to be a function, got ${describeValue(rule.choose)}`,
        );
      }
      return route as AddressRule;
    }
    if (rule.by === 'fraction') {
      const fraction = rule.modern;
      if (typeof fraction !== 'number') {
        throw new TypeError(
          `Expected \`route.modern\` to be a number from 0 to 1, got ${describeValue(fraction)}`,
        );
      }
      if (!(fraction >= 0 && fraction <= 1)) {
        throw new RangeError(
          `Expected \`route.modern\` to be a number from 0 to 1, got ${describeValue(fraction)}`,
        );
      }
      if (rule.random !== undefined && typeof rule.random !== 'function') {
        throw new TypeError(
          `Expected \`route.random\` to be a function, got ${describeValue(rule.random)}`,
        );
      }
      return route as FractionRule;
    }
  }
  throw new TypeError(
    `Expected \`route\` to be 'legacy', 'modern', a function or a rule with \`by\` 'sniff', 'address' or 'fraction', got ${describeValue(route)}`,
  );
}

function checkShadow(shadow: unknown): Required<ShadowOptions> | undefined {
  if (shadow === undefined || shadow === false) return undefined;
  if (shadow === true) shadow = {};
  if (typeof shadow !== 'object' || shadow === null) {
    throw new TypeError(
      `Expected \`shadow\` to be a boolean or an options object, got ${describeValue(shadow)}`,
    );
  }
  const options = shadow as ShadowOptions;
  const window = options.window ?? DEFAULT_WINDOW;
  if (typeof window !== 'number' || !Number.isInteger(window) || window < 0) {
    throw new (typeof window === 'number' ? RangeError : TypeError)(
      `Expected \`shadow.window\` to be a non-negative integer, got ${describeValue(window)}`,
    );
  }
  return {
    maxBuffered: checkPositiveInteger(
      'shadow.maxBuffered',
      options.maxBuffered ?? DEFAULT_MAX_BUFFERED,
    ),
    window,
    grace: checkMilliseconds('shadow.grace', options.grace ?? DEFAULT_GRACE),
  };
}

/**
 * A server where legacy and modern handlers serve the same port, created by
 * {@link startMixedServer}.
 *
 * - Legacy connections are dispatchers of one {@link SocketMap} ({@link map}) whose `loop()` the
 *   server runs while the map has dispatchers; modern connections run the handler over
 *   `fromDuplex(socket)` with a `ConnectionContext` like `startServer`'s.
 * - An error in a handler, a rule or a shadow closes only its own connection (or only the
 *   shadow) and is reported through `'error'` with a {@link MixedErrorInfo}. Legacy errors are
 *   reported after the dispatcher's own `handleError()` ran.
 * - Shadow mode compares the outputs incrementally, keeping only the bytes one side produced
 *   ahead of the other (bounded by `maxBuffered`); the shadow can neither block the primary (its
 *   input is a bounded copy, its output is always read) nor fail it.
 *
 * @example
 * ```ts
 * await using server = await startMixedServer({
 *   legacy: LegacyEcho,
 *   modern: modernEcho,
 *   route: { by: 'fraction', modern: 0.1 },
 *   host: '127.0.0.1',
 * });
 * server.on('error', (error, info) => console.error(info?.id, info?.role, error));
 * ```
 */
export class MixedServer extends EventEmitter<MixedServerEvents> implements AsyncDisposable {
  #options: MixedServerOptions;
  #route: RouteRule;
  #shadowOptions: Required<ShadowOptions> | undefined;
  #map = new SocketMap();
  #servers: net.Server[] = [];
  #openServers = 0;
  #sockets = new Set<net.Socket>();
  #connections = new Map<number, Connection>();
  // Shadows still running after their connection closed (bounded by `grace`).
  #lingering = new Set<Shadow>();
  #nextId = 0;
  #routed = 0;
  #loop: Promise<void> | null = null;
  #listening = false;
  #closing = false;
  #closed = false;
  #closeWaiters: (() => void)[] = [];

  /** Use {@link startMixedServer}, which also starts listening. */
  constructor(options: MixedServerOptions) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
    }
    if (typeof options.legacy !== 'function') {
      throw new TypeError(
        `Expected \`legacy\` to be a Dispatcher subclass, got ${describeValue(options.legacy)}`,
      );
    }
    if (typeof options.modern !== 'function') {
      throw new TypeError(
        `Expected \`modern\` to be a function, got ${describeValue(options.modern)}`,
      );
    }
    this.#route = checkRoute(options.route);
    this.#shadowOptions = checkShadow(options.shadow);
    if (options.limit !== undefined) checkPositiveInteger('limit', options.limit);
    if (options.loopTimeout !== undefined) checkMilliseconds('loopTimeout', options.loopTimeout);
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new TypeError(
        `Expected \`onError\` to be a function, got ${describeValue(options.onError)}`,
      );
    }
    this.#options = options;
  }

  /**
   * Starts listening; {@link startMixedServer} calls it for you. Rejects with the listen error
   * (e.g. `EADDRINUSE`), having closed whatever it had opened.
   */
  async startServing(): Promise<void> {
    if (this.#listening) return;
    if (this.#closing) throw new Error('Cannot start serving: the server is closed');
    this.#listening = true;
    const { path, backlog } = this.#options;
    const hosts = path !== undefined ? [undefined] : [this.#options.host].flat();
    let port = this.#options.port ?? 0;
    try {
      for (const host of hosts) {
        const server = this.#createServer();
        this.#servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          const listenOptions: net.ListenOptions =
            path !== undefined ? { path, backlog } : { host, port, backlog };
          server.listen(listenOptions, () => {
            server.off('error', reject);
            resolve();
          });
        });
        this.#openServers++;
        server.on('error', (error) => this.emit('error', error, undefined));
        const address = server.address();
        if (address !== null && typeof address === 'object') port = address.port;
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The (first) address the server listens on, with the real port when `port` was 0. */
  address(): Address {
    const first = this.addresses()[0];
    if (first === undefined) throw new Error('Cannot get the address: the server is not listening');
    return first;
  }

  /** Every address the server listens on (one per `host`). */
  addresses(): Address[] {
    const result: Address[] = [];
    for (const server of this.#servers) {
      const address = server.address();
      if (address === null) continue;
      if (typeof address === 'string') result.push({ path: address });
      else result.push({ host: address.address, port: address.port, family: address.family });
    }
    return result;
  }

  /** How many client connections are open (of both kinds, including those being sniffed). */
  get connections(): number {
    return this.#connections.size;
  }

  /** How many shadows still run after their connection closed (each bounded by `grace`). */
  get lingeringShadows(): number {
    return this.#lingering.size;
  }

  /**
   * The map of the legacy dispatchers (primaries and shadows). Its `loop()` is run by the server;
   * a legacy handler whose `readable()`/`writable()` change outside a handler calls `wake()` as
   * usual.
   */
  get map(): SocketMap {
    return this.#map;
  }

  /** Whether the server is accepting connections. */
  get listening(): boolean {
    return this.#listening && !this.#closing && this.#openServers > 0;
  }

  /** Stops accepting connections; open connections go on. Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    for (const server of this.#servers) {
      if (!server.listening) continue;
      server.close(() => {
        this.#openServers--;
        this.#checkClosed();
      });
    }
    this.#checkClosed();
  }

  /** Resolves once the server stopped listening and every connection and shadow has closed. */
  waitClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
  }

  /**
   * Graceful shutdown of both kinds of connection: stops accepting and waits for the handlers to
   * finish; when `timeout` ms pass first, aborts every modern handler's `context.signal` (reason:
   * a `TimeoutError`), closes every legacy dispatcher (its `handleClose()` runs), stops the
   * shadows and destroys the sockets. Resolves once everything is closed and the legacy loop has
   * stopped. Without `timeout`, waits as long as the handlers take.
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
      for (const connection of [...this.#connections.values()]) {
        connection.cancelSniff?.();
        connection.primary?.stop(reason);
        if (connection.shadow !== undefined) this.#dropShadow(connection, 'shutdown', reason);
      }
      for (const socket of this.#sockets) socket.destroy();
      for (const shadow of [...this.#lingering]) {
        this.#dropShadow(shadow.connection, 'shutdown', reason);
      }
      this.#map.closeAll();
      this.#checkClosed();
      await closed;
    }
  }

  /** `await using server = await startMixedServer(...)`: a {@link shutdown} without timeout. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  // ---- accepting and routing ---------------------------------------------------------------

  #createServer(): net.Server {
    const onSocket = (socket: net.Socket): void => this.#accept(socket);
    const server = this.#options.tls
      ? tls.createServer({ ...this.#options.tls, allowHalfOpen: true, noDelay: true }, onSocket)
      : net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
    // Every TCP socket, TLS ones still in their handshake included, so a shutdown can cut them.
    server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // A failed TLS handshake concerns that client only.
    server.on('tlsClientError', ignore);
    return server;
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.on('error', ignore);
    const info: RouteInfo = {
      id: ++this.#nextId,
      remoteAddress: peerAddress(socket, this.#options.path),
    };
    const connection: Connection = {
      info,
      socket,
      implementation: undefined,
      primary: undefined,
      shadow: undefined,
      cancelSniff: undefined,
      primaryOutputEnded: false,
      closePrimaryTransport: undefined,
    };
    this.#connections.set(info.id, connection);
    socket.once('close', () => this.#onClose(connection));
    const route = this.#route;
    if (typeof route === 'object' && route.by === 'sniff') {
      this.#sniff(connection, route);
      return;
    }
    let implementation: unknown;
    try {
      if (typeof route === 'string') implementation = route;
      else if (typeof route === 'function') implementation = route(info);
      else if (route.by === 'address') implementation = route.choose(info.remoteAddress, info);
      else implementation = this.#fraction(route);
    } catch (error) {
      this.#routeFailed(connection, error);
      return;
    }
    this.#dispatch(connection, implementation);
  }

  #fraction(rule: FractionRule): Implementation {
    if (rule.random !== undefined) return rule.random() < rule.modern ? 'modern' : 'legacy';
    const k = ++this.#routed;
    return Math.floor(k * rule.modern) > Math.floor((k - 1) * rule.modern) ? 'modern' : 'legacy';
  }

  // Reads (paused mode) until `bytes` bytes, end-of-stream or the timeout, then puts the bytes
  // back with unshift() so that the chosen handler reads them first.
  #sniff(connection: Connection, rule: SniffRule): void {
    const { socket } = connection;
    const parts: Buffer[] = [];
    let length = 0;
    let done = false;
    const stop = (): void => {
      done = true;
      connection.cancelSniff = undefined;
      clearTimeout(timer);
      socket.off('readable', onReadable);
    };
    const decide = (): void => {
      if (done) return;
      stop();
      if (socket.destroyed) return;
      const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
      if (head.length > 0) socket.unshift(head);
      let implementation: unknown;
      try {
        const sniffed = head.length > rule.bytes ? head.subarray(0, rule.bytes) : head;
        implementation = rule.choose(Buffer.from(sniffed), connection.info);
      } catch (error) {
        this.#routeFailed(connection, error);
        return;
      }
      this.#dispatch(connection, implementation);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (length < rule.bytes && (chunk = socket.read() as Buffer | null) !== null) {
        parts.push(chunk);
        length += chunk.length;
      }
      if (length >= rule.bytes || receivedEof(socket)) decide();
    };
    const timer = setTimeout(decide, rule.timeout ?? DEFAULT_SNIFF_TIMEOUT);
    connection.cancelSniff = stop;
    socket.on('readable', onReadable);
  }

  #routeFailed(connection: Connection, error: unknown): void {
    this.#report(error, connection, 'route', undefined);
    connection.socket.destroy();
  }

  #dispatch(connection: Connection, implementation: unknown): void {
    if (!isImplementation(implementation)) {
      this.#routeFailed(
        connection,
        new TypeError(
          `Expected the route to choose 'legacy' or 'modern', got ${describeValue(implementation)}`,
        ),
      );
      return;
    }
    connection.implementation = implementation;
    const shadow = this.#shadowOptions === undefined ? undefined : other(implementation);
    this.emit('route', { ...connection.info, implementation, shadow });
    if (connection.socket.destroyed) return;
    if (shadow === undefined) {
      connection.primary = this.#start(connection, implementation, connection.socket, 'primary');
    } else {
      this.#startShadowed(connection, implementation, shadow);
    }
  }

  // ---- running the implementations ---------------------------------------------------------

  // Starts `implementation` on `transport`; returns undefined (transport destroyed, error
  // reported) when a legacy constructor throws.
  #start(
    connection: Connection,
    implementation: Implementation,
    transport: Duplex,
    role: 'primary' | 'shadow',
    extraInfo?: Record<string, unknown>,
  ): Run | undefined {
    const onError = (error: unknown): void => {
      // What a shadow does after we stopped it (e.g. fails a write) is no news.
      if (role === 'shadow' && connection.shadow?.done === true) return;
      this.#report(error, connection, role, implementation);
      if (role === 'shadow') this.#dropShadow(connection, 'error');
    };
    if (implementation === 'legacy') return this.#startLegacy(transport, onError);
    return this.#startModern(connection, transport, onError, extraInfo);
  }

  #startLegacy(transport: Duplex, onError: (error: unknown) => void): Run | undefined {
    let dispatcher: Dispatcher;
    try {
      dispatcher = new this.#options.legacy({ socket: transport, map: this.#map });
    } catch (error) {
      onError(error);
      transport.destroy();
      return undefined;
    }
    dispatcher.on('error', onError);
    this.#ensureLoop();
    return {
      stop: () => {
        dispatcher.close();
        transport.destroy();
      },
    };
  }

  #startModern(
    connection: Connection,
    transport: Duplex,
    onError: (error: unknown) => void,
    extraInfo: Record<string, unknown> | undefined,
  ): Run {
    const path = this.#options.path;
    const { reader, writer } = fromDuplex(transport, {
      limit: this.#options.limit,
      extraInfo:
        extraInfo ?? (path === undefined ? undefined : { peername: { path }, sockname: { path } }),
    });
    const controller = new AbortController();
    const context: ConnectionContext = {
      signal: controller.signal,
      id: connection.info.id,
      remoteAddress: connection.info.remoteAddress,
    };
    transport.once('close', () => {
      if (!controller.signal.aborted) {
        controller.abort(new ConnectionClosedError('Connection closed'));
      }
    });
    const handler = this.#options.modern;
    void (async () => {
      try {
        await handler(reader, writer, context);
      } catch (error) {
        if (!(controller.signal.aborted && error === controller.signal.reason)) onError(error);
      } finally {
        writer.close();
      }
    })();
    return {
      stop: (reason) => {
        if (!controller.signal.aborted) controller.abort(reason);
        reader.setException(reason);
        transport.destroy();
      },
    };
  }

  // Runs the loop of the legacy map while it has dispatchers (loop() resolves on an empty map).
  #ensureLoop(): void {
    if (this.#loop !== null) return;
    this.#loop = loop({ map: this.#map, timeout: this.#options.loopTimeout ?? 30_000 })
      .catch((error: unknown) => {
        this.emit('error', error, undefined);
      })
      .finally(() => {
        this.#loop = null;
        if (this.#map.size > 0) this.#ensureLoop();
        else this.#checkClosed();
      });
  }

  // ---- shadow mode -------------------------------------------------------------------------

  // The primary and the shadow both run over in-memory pairs; this pumps the client's input to
  // both (the shadow's copy bounded) and the primary's output to the client, and compares the
  // two outputs.
  #startShadowed(
    connection: Connection,
    primary: Implementation,
    shadowKind: Implementation,
  ): void {
    const options = this.#shadowOptions!;
    const { socket } = connection;
    const [outer, inner] = duplexPair(PAIR_OPTIONS);
    const [shadowOuter, shadowInner] = duplexPair(PAIR_OPTIONS);
    for (const end of [outer, inner, shadowOuter, shadowInner]) end.on('error', ignore);
    const comparator = new OutputComparator({
      limit: options.maxBuffered,
      window: options.window,
      onDivergence: (divergence) => {
        this.emit('divergence', {
          ...divergence,
          id: connection.info.id,
          primaryImplementation: primary,
        });
        this.#endShadow(connection);
      },
      onOverrun: () => this.#dropShadow(connection, 'output-overrun'),
      onEqual: () => this.#endShadow(connection),
    });
    const shadow: Shadow = {
      connection,
      implementation: shadowKind,
      run: undefined,
      input: shadowOuter,
      inner: shadowInner,
      comparator,
      timer: undefined,
      done: false,
    };
    connection.shadow = shadow;

    // Client -> primary (with backpressure) and -> shadow (a bounded copy).
    let inputPaused = false;
    socket.on('data', (chunk: Buffer) => {
      if (!outer.writableEnded && !outer.destroyed && !outer.write(chunk)) {
        inputPaused = true;
        socket.pause();
      }
      if (!shadow.done) {
        shadowOuter.write(Buffer.from(chunk));
        if (shadowOuter.writableLength > options.maxBuffered) {
          this.#dropShadow(connection, 'input-overrun');
        }
      }
    });
    outer.on('drain', () => {
      if (inputPaused) {
        inputPaused = false;
        socket.resume();
      }
    });
    socket.on('end', () => {
      if (!outer.writableEnded) outer.end();
      if (!shadow.done && !shadowOuter.writableEnded) shadowOuter.end();
    });

    // Primary -> client; the transport closes once the primary closed and its output is sent.
    let primaryClosed = false;
    const finishSocket = (): void => {
      if (!connection.primaryOutputEnded || !primaryClosed || socket.destroyed) return;
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
    };
    outer.on('data', (chunk: Buffer) => {
      if (!socket.destroyed && !socket.writableEnded && !socket.write(chunk)) outer.pause();
      comparator.push(0, chunk);
    });
    socket.on('drain', () => outer.resume());
    outer.on('end', () => {
      connection.primaryOutputEnded = true;
      comparator.end(0);
      if (!socket.writableEnded) socket.end();
      finishSocket();
    });
    outer.on('close', () => {
      // Closed without end-of-stream: the primary reset its transport; so do we.
      if (!connection.primaryOutputEnded) socket.destroy();
    });
    inner.on('close', () => {
      primaryClosed = true;
      finishSocket();
    });
    // The socket is gone: the primary's transport goes too (a reset unless both sides had
    // finished), as its socket would have without the shadow.
    connection.closePrimaryTransport = () => {
      outer.destroy();
      inner.destroy();
    };

    // Shadow output: always read (the shadow never blocks on it), only compared.
    shadowOuter.on('data', (chunk: Buffer) => comparator.push(1, chunk));
    shadowOuter.on('end', () => comparator.end(1));
    shadowOuter.on('close', () => comparator.end(1));

    const extraInfo: Record<string, unknown> = {
      peername: connection.info.remoteAddress,
      sockname: this.#sockname(socket),
      peercert: socket instanceof tls.TLSSocket ? socket.getPeerCertificate() : undefined,
    };
    connection.primary = this.#start(connection, primary, inner, 'primary', extraInfo);
    if (!shadow.done) {
      shadow.run = this.#start(connection, shadowKind, shadowInner, 'shadow', extraInfo);
      if (shadow.run === undefined) this.#dropShadow(connection, 'error');
    }
  }

  #sockname(socket: net.Socket): Address | undefined {
    if (this.#options.path !== undefined) return { path: this.#options.path };
    const address = socket.address();
    if ('port' in address && typeof address.port === 'number') {
      return { host: address.address, port: address.port, family: address.family };
    }
    return undefined;
  }

  // The comparison is over (equal or diverged): the shadow is not needed any more.
  #endShadow(connection: Connection): void {
    const shadow = connection.shadow;
    if (shadow === undefined || shadow.done) return;
    this.#stopShadow(shadow, new ConnectionClosedError('Shadow comparison finished'));
    this.#settleLingering(shadow);
  }

  // `abortReason`: what the shadow's signal is aborted with (default a ConnectionClosedError).
  #dropShadow(connection: Connection, reason: ShadowDropReason, abortReason?: unknown): void {
    const shadow = connection.shadow;
    if (shadow === undefined || shadow.done) return;
    this.#stopShadow(
      shadow,
      abortReason ?? new ConnectionClosedError(`Cannot go on shadowing: ${reason}`),
    );
    this.emit('shadowDropped', {
      id: connection.info.id,
      implementation: shadow.implementation,
      reason,
    });
    this.#settleLingering(shadow);
  }

  #stopShadow(shadow: Shadow, reason: unknown): void {
    if (shadow.done) return;
    shadow.done = true;
    clearTimeout(shadow.timer);
    shadow.comparator.stop();
    shadow.run?.stop(reason);
    shadow.input.destroy();
    shadow.inner.destroy();
  }

  #settleLingering(shadow: Shadow): void {
    if (this.#lingering.delete(shadow)) this.#checkClosed();
  }

  // ---- closing -----------------------------------------------------------------------------

  #onClose(connection: Connection): void {
    connection.cancelSniff?.();
    connection.closePrimaryTransport?.();
    this.#connections.delete(connection.info.id);
    const shadow = connection.shadow;
    if (shadow !== undefined && !shadow.done) {
      if (!connection.primaryOutputEnded) {
        // The client went away before the primary's output was complete: nothing to compare.
        this.#dropShadow(connection, 'incomplete');
      } else {
        // Give the shadow `grace` ms to finish its output; its input has ended too.
        if (!shadow.input.writableEnded) shadow.input.end();
        this.#lingering.add(shadow);
        shadow.timer = setTimeout(() => {
          // A divergence still collecting its window is reported with what arrived.
          shadow.comparator.flush();
          this.#dropShadow(connection, 'timeout');
        }, this.#shadowOptions!.grace);
      }
    }
    this.#checkClosed();
  }

  // Closed = every listener closed, every connection and shadow gone, and the legacy loop over.
  #checkClosed(): void {
    if (this.#closed || !this.#closing || this.#openServers > 0) return;
    if (this.#connections.size > 0 || this.#lingering.size > 0) return;
    // Dispatchers whose transport closed but that did not close themselves (a handleClose()
    // override that does not call close()) would keep the loop running.
    if (this.#map.size > 0) this.#map.closeAll();
    if (this.#loop !== null) return; // its end calls us again
    this.#closed = true;
    const waiters = this.#closeWaiters;
    this.#closeWaiters = [];
    for (const resolve of waiters) resolve();
    this.emit('close');
  }

  #report(
    error: unknown,
    connection: Connection,
    role: ErrorRole,
    implementation: Implementation | undefined,
  ): void {
    const info: MixedErrorInfo = { ...connection.info, role, implementation };
    this.emit('error', error, info);
    const onError = this.#options.onError;
    if (onError !== undefined) {
      try {
        onError(error, info);
      } catch {
        // An onError that throws must not take the server down; 'error' carried the error.
      }
    }
  }
}

/**
 * Starts a mixed-style server, listening once the promise resolves: one port where each
 * connection is served by the legacy handler class or the modern handler, as `route` decides;
 * with `shadow`, the other implementation runs too, on a copy of the input, and `'divergence'`
 * reports where the two outputs first differ.
 *
 * @example
 * ```ts
 * const server = await startMixedServer({
 *   legacy: LegacyChat,                       // an AsyncChat subclass
 *   modern: async (reader, writer) => { ... }, // a StreamHandler
 *   route: { by: 'sniff', bytes: 3, choose: (head) => (head.equals(V2) ? 'modern' : 'legacy') },
 *   shadow: { window: 16 },
 *   host: '127.0.0.1',
 *   port: 7000,
 * });
 * server.on('divergence', (report) => console.warn('outputs differ', report));
 * // later
 * await server.shutdown({ timeout: 5_000 });
 * ```
 */
export async function startMixedServer(options: MixedServerOptions): Promise<MixedServer> {
  const server = new MixedServer(options);
  await server.startServing();
  return server;
}
