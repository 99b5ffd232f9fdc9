// Running the mixed server's two implementations (internal): a legacy class in one of two maps
// (primaries, shadows: each with its own loop), a modern handler over wired streams, or an
// upstream through the proxy. One `start()` for every role and transport.
import type { Duplex } from 'node:stream';
import type net from 'node:net';
import type { Address } from '../address.js';
import { ConnectionClosedError } from '../errors.js';
import type { Dispatcher } from '../legacy/dispatcher.js';
import { loop } from '../legacy/loop.js';
import { SocketMap } from '../legacy/socket-map.js';
import type { ConnectionContext, StreamHandler } from '../modern/server.js';
import { wireSocket, type WiredStreams } from '../modern/_wire.js';
import { localAddress } from '../_core/address.js';
import { HandlerRunner, type HandlerRun } from '../_core/runner.js';
import type { ServerLimits } from '../_core/server-options.js';
import type { LegacyHandlerClass } from './handlers.js';
import type { Implementation } from './_routing.js';
import type { Run } from './_shadow.js';
import { lendSocketView } from './_socket-view.js';
import { isUpstream, proxy, type Upstream } from './upstream.js';
import { LazyContext, LazyController } from './_lazy-controller.js';

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
   * is its run); resolves once it has finished. A modern handler's promise is its runner's own
   * (no promise, resolve functions or callbacks of its own per connection); errors go to
   * `connection.report()`.
   */
  servePrimary(connection: PrimaryConnection, implementation: Implementation): Promise<void> {
    const chosen = implementation === 'legacy' ? this.#options.legacy : this.#options.modern;
    if (implementation === 'modern' && !isUpstream(chosen)) {
      const run = this.#startModern(
        chosen as StreamHandler,
        connection,
        connection.socket,
        'primary',
        connection,
        undefined,
      );
      connection.primary = run;
      return run.finished;
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
        lendSocketView(transport, connection.socket);
      }
      return this.#startLegacy(chosen as LegacyHandlerClass, transport, role, reporter, done);
    }
    return this.#startModern(chosen as StreamHandler, connection, transport, role, reporter, done);
  }

  #startLegacy(
    Legacy: LegacyHandlerClass,
    transport: Duplex,
    role: 'primary' | 'shadow',
    reporter: Reporter,
    done: () => void,
  ): Run | undefined {
    const shadow = role === 'shadow';
    const map = shadow ? this.shadowMap : this.map;
    let dispatcher: Dispatcher;
    try {
      dispatcher = new Legacy({ socket: transport, map, shadow });
    } catch (error) {
      reporter.report(error);
      transport.destroy();
      done();
      return undefined;
    }
    dispatcher.on('error', reportTo, reporter);
    if (dispatcher.closed) done();
    else dispatcher.once('close', done);
    this.#ensureLoop(map);
    return new LegacyRun(dispatcher, transport);
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
