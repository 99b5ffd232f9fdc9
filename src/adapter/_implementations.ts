// Running the mixed server's two implementations (internal): a legacy class in one of two maps
// (primaries, shadows: each with its own loop), a modern handler over wired streams, or an
// upstream through the proxy. One `start()` for every role and transport.
import type { Duplex } from 'node:stream';
import net from 'node:net';
import type { Address } from '../address.js';
import { ConnectionClosedError } from '../errors.js';
import type { Dispatcher } from '../legacy/dispatcher.js';
import { loop } from '../legacy/loop.js';
import { SocketMap } from '../legacy/socket-map.js';
import type { ConnectionContext, StreamHandler } from '../modern/server.js';
import { wireSocket, type WiredStreams } from '../modern/_wire.js';
import { localAddress } from '../_core/address.js';
import { ownSocketErrors } from '../_core/listener.js';
import { HandlerRunner, type HandlerRun } from '../_core/runner.js';
import type { ServerLimits } from '../_core/server-options.js';
import type { LegacyHandlerClass } from './handlers.js';
import type { Implementation } from './_routing.js';
import type { Run } from './_shadow.js';
import { lendSocketView } from './_socket-view.js';
import { isUpstream, proxy, type Upstream } from './upstream.js';
import { LazyContext, LazyController } from './_lazy-controller.js';
import { ModernPrimary } from './_modern-primary.js';

/** What an implementation is started for: one client connection. */
export interface ServedConnection {
  readonly id: number;
  readonly socket: net.Socket;
  readonly remoteAddress: Address;
  /** The connection's abort: a primary's signal. */
  readonly lazy: LazyController;
}

/** Where an implementation's errors go: an object with a method, not a closure per start. */
export interface Reporter {
  report(error: unknown): void;
}

/** A connection whose primary runs on its own socket, without a shadow. */
export interface PrimaryConnection extends ServedConnection, Reporter {
  primary: Run | undefined;
  /** Its socket closed (told by a modern primary's wire). */
  socketClosed(): void;
  /** Stops listening to its socket's 'close' itself: the primary will tell it. */
  unwatchClose(): void;
  /** Listens to its socket's 'close' itself again. */
  watchClose(): void;
}

// A dispatcher's 'error' listener, shared: eventemitter3 calls it with its reporter as `this`.
function reportTo(this: Reporter, error: unknown): void {
  this.report(error);
}

export interface ImplementationsOptions {
  legacy: LegacyHandlerClass | Upstream;
  modern: StreamHandler | Upstream;
  limits: ServerLimits;
  loopTimeout: number;
  /** A legacy loop failed. */
  loopError(error: unknown): void;
  /** A legacy loop ended (the server may now be closed). */
  loopEnded(): void;
}

export class Implementations {
  /** The legacy primaries' map. */
  readonly map = new SocketMap();
  // Legacy shadows run apart: their own map and loop, so that a broadcast over `this.map`
  // (asyncore's idiom) never reaches a real client.
  readonly shadowMap = new SocketMap();
  readonly #options: ImplementationsOptions;
  readonly #loops = new Map<SocketMap, Promise<void>>();
  // The handler runs of the modern side: a primary's concurrency slot is held by its connection
  // already, and a shadow follows its primary, so nothing bounds these.
  readonly #runner = new HandlerRunner({});

  constructor(options: ImplementationsOptions) {
    this.#options = options;
  }

  /** Whether a legacy loop still runs. */
  get looping(): boolean {
    return this.#loops.size > 0;
  }

  /**
   * Starts the primary of a connection without a shadow on its own socket (`connection.primary`
   * is its run), for the connection's runner: what it returns settles once the primary has
   * finished. A modern handler's own result is returned: the connection's runner reports its
   * error and closes it (`connection.close()` calls the run's done()), with no second runner,
   * promise or callback of its own per connection. Errors go to `connection.report()`.
   */
  servePrimary(
    connection: PrimaryConnection,
    implementation: Implementation,
  ): Promise<void> | void {
    const chosen = implementation === 'legacy' ? this.#options.legacy : this.#options.modern;
    if (implementation === 'modern' && !isUpstream(chosen)) {
      return this.#startModernPrimary(chosen as StreamHandler, connection).start();
    }
    return new Promise<void>((resolve) => {
      connection.primary = this.start(
        connection,
        implementation,
        connection.socket,
        'primary',
        connection,
        resolve,
      );
    });
  }

  /**
   * Starts `implementation` on `transport` (the socket, or an in-memory end in shadow mode);
   * `done` is called once it has finished. Undefined when it could not start (reported).
   */
  start(
    connection: ServedConnection,
    implementation: Implementation,
    transport: Duplex,
    role: 'primary' | 'shadow',
    reporter: Reporter,
    done: () => void,
  ): Run | undefined {
    const chosen = implementation === 'legacy' ? this.#options.legacy : this.#options.modern;
    if (isUpstream(chosen)) {
      return proxy(chosen, transport, (error) => reporter.report(error), done);
    }
    if (implementation === 'legacy') {
      // A primary over the in-memory end of shadow mode keeps the real socket's view.
      if (role === 'primary' && transport !== connection.socket) {
        lendSocketView(transport, connection.socket, connection.remoteAddress);
      }
      return this.#startLegacy(chosen as LegacyHandlerClass, transport, role, reporter, done);
    }
    return this.#startModern(chosen as StreamHandler, connection, transport, role, reporter, done);
  }

  /**
   * Starts a legacy primary of a connection without a shadow on its own socket, for a server
   * whose connections need no runner (no concurrency, no idle clock): nobody waits for it to
   * finish, so nothing is kept per connection for that (no promise, no 'close' listener on the
   * dispatcher). Its errors go to `connection.report()`.
   */
  serveLegacyPrimary(connection: PrimaryConnection): void {
    const Legacy = this.#options.legacy as LegacyHandlerClass;
    connection.primary = this.#startLegacy(Legacy, connection.socket, 'primary', connection);
  }

  #startLegacy(
    Legacy: LegacyHandlerClass,
    transport: Duplex,
    role: 'primary' | 'shadow',
    reporter: Reporter,
    done?: () => void,
  ): Run | undefined {
    const shadow = role === 'shadow';
    const map = shadow ? this.shadowMap : this.map;
    let dispatcher: Dispatcher;
    try {
      dispatcher = new Legacy({ socket: transport, map, shadow });
    } catch (error) {
      reporter.report(error);
      transport.destroy();
      done?.();
      return undefined;
    }
    dispatcher.on('error', reportTo, reporter);
    if (done !== undefined) {
      if (dispatcher.closed) done();
      else dispatcher.once('close', done);
    }
    // The dispatcher listens to the socket's errors now (until it closes, and its lingering
    // close after it): the listener's placeholder goes, unless nobody else listens (a class
    // that attached no transport).
    if (!shadow && transport instanceof net.Socket && transport.listenerCount('error') > 1) {
      ownSocketErrors(transport);
    }
    this.#ensureLoop(map);
    return new LegacyRun(dispatcher, transport);
  }

  // A modern primary on the connection's own socket (see _modern-primary.ts): the connection's
  // own 'close' listener goes first (its wire tells it), and the listener's error placeholder
  // once the wire listens to errors.
  #startModernPrimary(handler: StreamHandler, connection: PrimaryConnection): ModernPrimary {
    const { path, limit, lingerTimeout } = this.#options.limits;
    const socket = connection.socket;
    connection.unwatchClose();
    let primary: ModernPrimary;
    try {
      primary = new ModernPrimary(
        connection,
        handler,
        socket,
        limit,
        // Over a Unix socket, the server's path is both ends' address.
        path === undefined
          ? { lingerTimeout }
          : {
              lingerTimeout,
              extraInfo: { peername: connection.remoteAddress, sockname: { path } },
            },
      );
    } catch (error) {
      connection.watchClose();
      throw error;
    }
    ownSocketErrors(socket);
    connection.primary = primary;
    return primary;
  }

  #startModern(
    handler: StreamHandler,
    connection: ServedConnection,
    transport: Duplex,
    role: 'primary' | 'shadow',
    reporter: Reporter,
    done: (() => void) | undefined,
  ): ModernRun {
    const { path, limit, lingerTimeout } = this.#options.limits;
    const socket = connection.socket;
    const direct = transport === socket;
    const streams = wireSocket(transport, limit, {
      lingerTimeout,
      // Over an in-memory end (or a Unix socket), the real socket's view: its addresses, and
      // for the primary the socket itself.
      extraInfo:
        direct && path === undefined
          ? undefined
          : {
              peername: connection.remoteAddress,
              sockname: path !== undefined ? { path } : localAddress(socket),
              ...(direct || role === 'shadow' ? {} : { socket }),
            },
    });
    // The primary's signal is the connection's (aborted when its socket closes); a shadow, or a
    // primary over shadow mode's in-memory end, is also aborted when its transport closes.
    const lazy = role === 'primary' ? connection.lazy : new LazyController();
    const context = new LazyContext(
      connection.id,
      connection.remoteAddress,
      lazy,
      role === 'shadow',
    );
    if (!direct) transport.on('close', () => abortClosed(lazy));
    const run = new ModernRun(handler, streams, context, lazy, transport, reporter);
    // The runner's promise never rejects.
    run.finished = this.#runner.run(run);
    if (done !== undefined) void run.finished.then(done);
    return run;
  }

  // Runs the loop of a legacy map while it has dispatchers (loop() resolves on an empty map).
  #ensureLoop(map: SocketMap): void {
    if (this.#loops.has(map)) return;
    const running = loop({ map, timeout: this.#options.loopTimeout })
      .catch((error: unknown) => this.#options.loopError(error))
      .finally(() => {
        this.#loops.delete(map);
        if (map.size > 0) this.#ensureLoop(map);
        else this.#options.loopEnded();
      });
    this.#loops.set(map, running);
  }
}

const SETTLED = Promise.resolve();

function abortClosed(lazy: LazyController): void {
  if (!lazy.aborted) lazy.abort(new ConnectionClosedError('Connection closed'));
}

// A legacy implementation as the shadow session (or a forced shutdown) stops it.
class LegacyRun implements Run {
  readonly #dispatcher: Dispatcher;
  readonly #transport: Duplex;

  constructor(dispatcher: Dispatcher, transport: Duplex) {
    this.#dispatcher = dispatcher;
    this.#transport = transport;
  }

  stop(): void {
    this.#dispatcher.close();
    this.#transport.destroy();
  }
}

// A modern implementation: the runner's view of its handler, and how it is stopped.
class ModernRun implements HandlerRun, Run {
  readonly socket: Duplex;
  /** Settles (never rejects) once the handler has finished and its connection is closed. */
  finished: Promise<void> = SETTLED;
  readonly #handler: StreamHandler;
  readonly #streams: WiredStreams;
  readonly #context: ConnectionContext;
  readonly #lazy: LazyController;
  readonly #reporter: Reporter;

  constructor(
    handler: StreamHandler,
    streams: WiredStreams,
    context: ConnectionContext,
    lazy: LazyController,
    transport: Duplex,
    reporter: Reporter,
  ) {
    this.#handler = handler;
    this.#streams = streams;
    this.#context = context;
    this.#lazy = lazy;
    this.socket = transport;
    this.#reporter = reporter;
  }

  get controller(): AbortController {
    return this.#lazy.controller;
  }

  start(): Promise<void> | void {
    return this.#handler(this.#streams.reader, this.#streams.writer, this.#context);
  }

  close(): void {
    this.#streams.writer.close();
  }

  report(error: unknown): void {
    this.#reporter.report(error);
  }

  fail(reason: unknown): void {
    this.#streams.fail(reason);
  }

  stop(reason: unknown): void {
    this.#lazy.abort(reason);
    this.#streams.fail(reason);
  }
}
