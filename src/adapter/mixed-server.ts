/**
 * The mixed-style server: one listening port, each connection served by a legacy handler class
 * or a modern stream handler, chosen by a routing rule, with an optional shadow run of the other
 * implementation whose output is compared with the primary's.
 *
 * This module is the facade: listening, accepting and closing are the lifecycle core's
 * (`src/_core`), routing is `_routing.ts`, shadow mode `_shadow.ts`.
 *
 * @module
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'eventemitter3';
import type { Address } from '../address.js';
import { ConnectionClosedError, InvalidArgumentError, InvalidStateError } from '../errors.js';
import { SocketMap } from '../legacy/socket-map.js';
import { checkMilliseconds, describeValue } from '../modern/_validate.js';
import { readPeerOnce } from '../_core/address.js';
import { closeGracefully } from '../_core/linger.js';
import { channels, isObserved, publish } from '../_core/observe.js';
import { reportHandlerError } from '../_core/report.js';
import { HandlerRunner } from '../_core/runner.js';
import { ServerCore } from '../_core/server-core.js';
import { checkServerOptions } from '../_core/server-options.js';
import { isUpstream } from './upstream.js';
import {
  Router,
  isImplementation,
  other,
  type Implementation,
  type RouteDecision,
  type RouteInfo,
} from './_routing.js';
import { Implementations } from './_implementations.js';
import { MixedConnection, socketClosedBy, type MixedHost } from './_mixed-connection.js';
import { ShadowSession, checkShadow, type Run, type ShadowOptions } from './_shadow.js';

import type {
  ErrorRole,
  MixedErrorInfo,
  MixedServerEvents,
  MixedServerOptions,
  MixedServerStats,
} from './_mixed-types.js';

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
  readonly #options: MixedServerOptions;
  readonly #router: Router;
  readonly #shadowOptions: Required<ShadowOptions> | undefined;
  readonly #core: ServerCore;
  readonly #runner: HandlerRunner;
  readonly #implementations: Implementations;
  // Whether legacy primaries (without a shadow) start without the runner (see #serveLegacy()).
  readonly #runless: boolean;
  // What every connection calls back (one object per server: connections keep no closures).
  readonly #host: MixedHost = {
    serve: (connection) =>
      this.#serve(connection, connection.implementation!, connection.shadowKind),
    closeUnserved: (connection) =>
      closeGracefully(connection.socket, { lingerTimeout: this.#core.limits.lingerTimeout }),
    report: (error, connection) =>
      this.#report(error, connection, 'primary', connection.implementation),
    refused: () => this.#core.refused(),
    closed: (connection) => this.#onClose(connection),
    routed: (connection, decision) => this.#routed(connection, decision),
    tracksClose: (socket) => this.#core.tracksClose(socket),
  };
  // Shadow sessions still running after their connection closed (bounded by `grace`).
  #lingering = 0;
  readonly #counts = {
    legacy: { routed: 0, handlerErrors: 0 },
    modern: { routed: 0, handlerErrors: 0 },
    divergences: 0,
    shadowDrops: 0,
  };

  /** Use {@link startMixedServer}, which also starts listening. */
  constructor(options: MixedServerOptions) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(
        `Expected \`options\` to be an object, got ${describeValue(options)}`,
      );
    }
    if (typeof options.legacy !== 'function' && !isUpstream(options.legacy)) {
      throw new InvalidArgumentError(
        `Expected \`legacy\` to be a Dispatcher subclass, got ${describeValue(options.legacy)}`,
      );
    }
    if (typeof options.modern !== 'function' && !isUpstream(options.modern)) {
      throw new InvalidArgumentError(
        `Expected \`modern\` to be a function, got ${describeValue(options.modern)}`,
      );
    }
    this.#router = new Router(options.route);
    this.#shadowOptions = checkShadow(options.shadow);
    if (options.loopTimeout !== undefined) checkMilliseconds('loopTimeout', options.loopTimeout);
    const limits = checkServerOptions(options);
    this.#options = options;
    this.#runner = new HandlerRunner({
      concurrency: limits.concurrency,
      idleTimeout: limits.idleTimeout,
      queueTimeout: limits.queueTimeout,
    });
    this.#implementations = new Implementations({
      legacy: options.legacy,
      modern: options.modern,
      limits,
      loopTimeout: options.loopTimeout ?? 30_000,
      loopError: (error) => this.emit('error', error, undefined),
      loopEnded: () => this.#core.check(),
    });
    // A connection's runner only waits for a legacy primary (a class, not an upstream) unless it
    // holds a concurrency slot or runs an idle clock (see HandlerRunner).
    this.#runless =
      !isUpstream(options.legacy) &&
      limits.concurrency === undefined &&
      !(limits.idleTimeout !== undefined && limits.idleTimeout > 0);
    this.#core = new ServerCore(limits, {
      layer: 'mixed',
      accept: (socket) => this.#accept(socket),
      error: (error) => this.emit('error', error, undefined),
      closed: () => this.emit('close'),
      busy: () => this.#busy(),
      // A plain TCP connection's 'close' comes through the core's listener of its socket.
      socketClosed: socketClosedBy,
    });
  }

  /**
   * Starts listening; {@link startMixedServer} calls it for you. Rejects with the listen error
   * (e.g. `EADDRINUSE`), having closed whatever it had opened, or with an `AbortError` (code
   * `ERR_DB_ABORTED`) when {@link close} came first; nothing listens then.
   */
  startServing(): Promise<void> {
    return this.#core.start();
  }

  /** The (first) address the server listens on, with the real port when `port` was 0. */
  address(): Address {
    const first = this.addresses()[0];
    if (first === undefined)
      throw new InvalidStateError('Cannot get the address: the server is not listening');
    return first;
  }

  /** Every address the server listens on (one per `host`). */
  addresses(): Address[] {
    return this.#core.addresses();
  }

  /**
   * A snapshot of the counters: those of `Server.stats()` for every connection, plus per
   * implementation how many were routed to it and its handler errors, and shadow mode's
   * divergences and dropped shadows.
   *
   * @example
   * ```ts
   * const { legacy, modern, divergences } = server.stats();
   * console.log(legacy.routed, modern.routed, divergences);
   * ```
   */
  stats(): MixedServerStats {
    const counts = this.#counts;
    return {
      ...this.#core.stats(),
      legacy: { ...counts.legacy },
      modern: { ...counts.modern },
      divergences: counts.divergences,
      shadowDrops: counts.shadowDrops,
    };
  }

  /** How many client connections are open (of both kinds, including those being sniffed). */
  get connections(): number {
    return this.#core.size;
  }

  /** How many shadows still run after their connection closed (each bounded by `grace`). */
  get lingeringShadows(): number {
    return this.#lingering;
  }

  /**
   * The map of the legacy primaries. Its `loop()` is run by the server; a legacy handler whose
   * `readable()`/`writable()` change outside a handler calls `wake()` as usual.
   */
  get map(): SocketMap {
    return this.#implementations.map;
  }

  /** The map of the legacy shadows (shadow mode), apart from the primaries', with its own loop. */
  get shadowMap(): SocketMap {
    return this.#implementations.shadowMap;
  }

  /** Whether the server is accepting connections. */
  get listening(): boolean {
    return this.#core.listening;
  }

  /** Stops accepting connections; open connections go on. Idempotent. */
  close(): void {
    this.#core.close();
  }

  /** Resolves once the server stopped listening and every connection and shadow has closed. */
  waitClosed(): Promise<void> {
    return this.#core.waitClosed();
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
  shutdown(options: { timeout?: number | undefined } = {}): Promise<void> {
    const ms =
      options.timeout === undefined ? undefined : checkMilliseconds('timeout', options.timeout);
    return this.#core.shutdown(ms, (reason) => {
      for (const shadow of this.#sessions) shadow.drop('shutdown', reason);
      this.#implementations.map.closeAll();
      this.#implementations.shadowMap.closeAll();
    });
  }

  /** `await using server = await startMixedServer(...)`: a {@link shutdown} without timeout. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  // ---- accepting and routing ---------------------------------------------------------------

  // Every session not yet done (of open connections, and lingering ones).
  #sessions = new Set<ShadowSession>();

  #accept(socket: net.Socket): void {
    const core = this.#core;
    const path = core.limits.path;
    const info: RouteInfo = {
      id: core.nextId(),
      // Kept here: Node's copy of it on the socket is not (readPeerOnce).
      remoteAddress:
        path !== undefined ? { path } : (readPeerOnce(socket) ?? { host: '', port: 0 }),
    };
    const connection = new MixedConnection(info, socket, this.#host);
    core.add(connection);
    // Its socket's 'close' through one shared listener (no closure per connection), until a
    // primary that tells it instead takes over.
    connection.watchClose();
    // A rule that decides at once has called connection.routed() before route() returns; a sniff
    // decides later (from a 'readable' event or its deadline).
    connection.routing = this.#router.route(socket, info, connection);
  }

  #routed(connection: MixedConnection, decision: RouteDecision): void {
    if ('error' in decision) {
      this.#routeFailed(connection, decision.error);
      return;
    }
    const implementation = decision.implementation;
    if (!isImplementation(implementation)) {
      this.#routeFailed(
        connection,
        new InvalidArgumentError(
          `Expected the route to choose 'legacy' or 'modern', got ${describeValue(implementation)}`,
        ),
      );
      return;
    }
    const shadow = this.#shadowOptions === undefined ? undefined : other(implementation);
    this.#counts[implementation].routed++;
    // Nothing is made for nobody: the message and the event object only when someone listens.
    if (isObserved(channels.route)) {
      publish(channels.route, 'route', {
        id: connection.id,
        layer: 'mixed',
        implementation,
        shadow,
        remoteAddress: connection.remoteAddress,
      });
    }
    if (this.listenerCount('route') > 0) {
      this.emit('route', { ...connection.info, implementation, shadow });
    }
    if (connection.socket.destroyed) return;
    connection.implementation = implementation;
    connection.shadowKind = shadow;
    if (this.#runless && implementation === 'legacy' && shadow === undefined) {
      this.#serveLegacy(connection);
      return;
    }
    void this.#runner.run(connection);
  }

  // A legacy primary on a server whose runner would only wait for it (no concurrency slot to
  // hold, no idle clock): started at once, nothing kept per connection for its end. As the
  // runner would, an unexpected throw is reported and closes the connection.
  #serveLegacy(connection: MixedConnection): void {
    try {
      this.#implementations.serveLegacyPrimary(connection);
    } catch (error) {
      connection.report(error);
      connection.close();
    }
  }

  #routeFailed(connection: MixedConnection, error: unknown): void {
    this.#report(error, connection, 'route', undefined);
    connection.socket.destroy();
  }

  // Serves one connection (with its shadow, if any); settles when the primary is done.
  #serve(
    connection: MixedConnection,
    implementation: Implementation,
    shadowKind: Implementation | undefined,
  ): Promise<void> | void {
    const { socket } = connection;
    // Its errors go to connection.report(): the primary's, as #start()'s would.
    if (shadowKind === undefined)
      return this.#implementations.servePrimary(connection, implementation);
    return new Promise<void>((resolve) => {
      const session = new ShadowSession(
        {
          start: (kind, transport, role) =>
            this.#start(connection, kind, transport, role, role === 'primary' ? resolve : noop),
          divergence: (report) => {
            this.#counts.divergences++;
            publish(channels.divergence, 'shadow-divergence', {
              ...report,
              layer: 'mixed',
              primary: report.primary,
              shadow: report.shadow,
            });
            this.emit('divergence', report);
          },
          dropped: (report) => {
            this.#counts.shadowDrops++;
            publish(channels.shadowDrop, 'shadow-drop', { ...report, layer: 'mixed' });
            this.emit('shadowDropped', report);
          },
          settled: () => {
            this.#lingering--;
            this.#sessions.delete(session);
            this.#core.check();
          },
        },
        this.#shadowOptions!,
        connection.info.id,
        socket,
        implementation,
        shadowKind,
        this.#core.limits.lingerTimeout,
      );
      connection.shadow = session;
      if (!session.done) this.#sessions.add(session);
    });
  }

  // Starts one implementation for `connection`, its errors reported with its role.
  #start(
    connection: MixedConnection,
    implementation: Implementation,
    transport: Duplex,
    role: 'primary' | 'shadow',
    done: () => void,
  ): Run | undefined {
    const reporter = {
      report: (error: unknown): void => {
        // What a shadow does after we stopped it (e.g. fails a write) is no news.
        if (role === 'shadow' && connection.shadow?.done === true) return;
        this.#report(error, connection, role, implementation);
        if (role === 'shadow') connection.shadow?.drop('error');
      },
    };
    return this.#implementations.start(connection, implementation, transport, role, reporter, done);
  }

  // ---- closing -----------------------------------------------------------------------------

  #onClose(connection: MixedConnection): void {
    connection.routing?.cancel();
    if (!connection.lazy.aborted)
      connection.lazy.abort(new ConnectionClosedError('Connection closed'));
    const shadow = connection.shadow;
    if (shadow !== undefined) {
      shadow.socketClosed();
      if (shadow.lingering) this.#lingering++;
      else this.#sessions.delete(shadow);
    }
    this.#core.delete(connection);
  }

  // Something still runs that the core cannot see: lingering shadows, the legacy loop.
  #busy(): boolean {
    if (this.#lingering > 0) return true;
    // Dispatchers whose transport closed but that did not close themselves (a handleClose()
    // override that does not call close()) would keep the loop running.
    if (this.#core.size === 0) {
      if (this.#implementations.map.size > 0) this.#implementations.map.closeAll();
      if (this.#lingering === 0 && this.#implementations.shadowMap.size > 0)
        this.#implementations.shadowMap.closeAll();
    }
    return this.#implementations.looping;
  }

  #report(
    error: unknown,
    connection: MixedConnection,
    role: ErrorRole,
    implementation: Implementation | undefined,
  ): void {
    const info: MixedErrorInfo = { ...connection.info, role, implementation };
    this.#core.handlerError();
    if (implementation !== undefined) this.#counts[implementation].handlerErrors++;
    publish(channels.handlerError, 'handler-error', {
      id: connection.info.id,
      layer: 'mixed',
      role,
      implementation,
      error,
    });
    reportHandlerError(this, this.#options.onError, error, info, 'mixed');
  }
}

const noop = (): void => {};

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
