// The life of a server, written once for startServer's Server and the MixedServer (internal):
//
//   initial -> starting -> listening -> closing -> closed
//                  \________________/
//                   close() at any point: a start() under way rejects with AbortError and
//                   leaves nothing listening
//
// closed = close() was called, no socket listens, every connection is gone (lingering closes
// included: no fd is left behind) and the owner has nothing else running (busy()).
import type net from 'node:net';
import { AbortError, InvalidStateError, TimeoutError } from '../errors.js';
import type { Address } from '../address.js';
import { Listener } from './listener.js';
import { channels, isObserved, publish, type Layer } from './observe.js';
import type { ServerLimits } from './server-options.js';
import { StatsCounter, type ConnectionStats } from './stats.js';

/** One accepted connection as the core sees it. */
export interface CoreConnection {
  readonly id: number;
  readonly socket: net.Socket;
  readonly remoteAddress: Address;
  /** Stops it now (a forced shutdown): handlers aborted with `reason`, sockets destroyed. */
  abort(reason: unknown): void;
}

export interface ServerCoreHooks {
  /** The layer named in the debug log and the channels' messages. */
  layer: Layer;
  /** A connection ready for its handler (TLS: handshake done). */
  accept(socket: net.Socket): void;
  /** An error of a listening socket. */
  error(error: unknown): void;
  /** The server is closed: emit 'close'. */
  closed(): void;
  /**
   * A socket the core tracks closed (see {@link ServerCore.tracksClose}), before the core checks
   * whether it is closed: an owner that leaves its connections' 'close' to the core (one listener
   * fewer per socket) handles it here.
   */
  socketClosed?: ((socket: net.Socket) => void) | undefined;
  /** Something of the owner's still runs (a legacy loop, lingering shadows). */
  busy?: (() => boolean) | undefined;
}

type State = 'initial' | 'starting' | 'listening' | 'closing' | 'closed';

export class ServerCore {
  readonly limits: ServerLimits;
  readonly #listener: Listener;
  readonly #hooks: ServerCoreHooks;
  // A Set, not a Map by id: two words per connection instead of three.
  readonly #connections = new Set<CoreConnection>();
  readonly #stats = new StatsCounter(() => socketsOf(this.#connections));
  #state: State = 'initial';
  #listenerClosed = false;
  #nextId = 0;
  #waiters: (() => void)[] = [];

  constructor(limits: ServerLimits, hooks: ServerCoreHooks) {
    this.limits = limits;
    this.#hooks = hooks;
    this.#listener = new Listener({
      hosts: limits.hosts,
      port: limits.port,
      path: limits.path,
      backlog: limits.backlog,
      tls: limits.tls,
      handshakeTimeout: limits.handshakeTimeout,
      maxConnections: limits.maxConnections,
      onRefused: () => this.refused(),
      proxy: limits.proxy,
      onProxyError: (error) => {
        this.refused();
        hooks.error(error);
      },
      onConnection: (socket) => {
        if (this.#state !== 'listening') socket.destroy();
        else hooks.accept(socket);
      },
      onError: (error) => hooks.error(error),
      onSocketClose: (socket) => {
        hooks.socketClosed?.(socket);
        this.check();
      },
    });
  }

  /** Whether the server accepts connections. */
  get listening(): boolean {
    return this.#state === 'listening' && this.#listener.listening;
  }

  /** Connections registered and not yet gone. */
  get size(): number {
    return this.#connections.size;
  }

  /** Whether close() was called. */
  get closing(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  connections(): IterableIterator<CoreConnection> {
    return this.#connections.values();
  }

  addresses(): ReturnType<Listener['addresses']> {
    return this.#listener.addresses();
  }

  /**
   * Whether `socket`'s 'close' reaches the owner's `socketClosed` hook (a plain TCP socket the
   * core tracks, when the owner has that hook), so that the owner needs no listener of its own.
   */
  tracksClose(socket: net.Socket): boolean {
    return this.#hooks.socketClosed !== undefined && this.#listener.tracks(socket);
  }

  /** A new connection id, from 1. */
  nextId(): number {
    return ++this.#nextId;
  }

  /** Registers an accepted connection (counted, published). */
  add(connection: CoreConnection): void {
    this.#connections.add(connection);
    this.#stats.opened();
    if (isObserved(channels.open)) {
      publish(channels.open, 'open', {
        id: connection.id,
        layer: this.#hooks.layer,
        remoteAddress: connection.remoteAddress,
      });
    }
  }

  /** Its socket closed: unregisters it (counted, published). */
  delete(connection: CoreConnection): void {
    if (!this.#connections.delete(connection)) return;
    const socket = connection.socket;
    this.#stats.closedSocket(socket);
    if (isObserved(channels.close)) {
      publish(channels.close, 'close', {
        id: connection.id,
        layer: this.#hooks.layer,
        bytesIn: socket.bytesRead,
        bytesOut: socket.bytesWritten,
      });
    }
    this.check();
  }

  /** A connection was refused (over maxConnections, no slot in time). */
  refused(): void {
    this.#stats.refused++;
  }

  /** A handler error was reported. */
  handlerError(): void {
    this.#stats.handlerErrors++;
  }

  /** A snapshot of the counters. */
  stats(): ConnectionStats {
    return this.#stats.snapshot();
  }

  /** Listens. Rejects with the listen error, or AbortError when close() came first. */
  async start(): Promise<void> {
    if (this.#state === 'listening') return;
    if (this.#state === 'starting') {
      throw new InvalidStateError('Cannot start serving: the server is already starting');
    }
    if (this.closing) throw new AbortError('Cannot start serving: the server is closed');
    this.#state = 'starting';
    try {
      await this.#listener.start();
    } catch (error) {
      this.close();
      throw error;
    }
    // close() during the start made the listener's start reject: here we are still starting.
    this.#state = 'listening';
  }

  /** Stops accepting; open connections go on. Idempotent. */
  close(): void {
    if (this.closing) return;
    this.#state = 'closing';
    this.#listener.close();
    void this.#listener.closed().then(() => {
      this.#listenerClosed = true;
      this.check();
    });
  }

  /** Resolves once closed (see the module comment). */
  waitClosed(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Closes, waits for everything to finish; after `ms` (if given), aborts every connection with
   * a TimeoutError and destroys every socket, then waits for the end.
   */
  async shutdown(ms: number | undefined, forceStop?: (reason: unknown) => void): Promise<void> {
    this.close();
    const closed = this.waitClosed();
    if (ms === undefined) return closed;
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), ms);
      }),
    ]).finally(() => clearTimeout(timer));
    if (!expired) return;
    const reason = new TimeoutError(ms, `Server shutdown: handlers still running after ${ms} ms`);
    for (const connection of [...this.#connections.values()]) connection.abort(reason);
    forceStop?.(reason);
    this.#listener.destroyAll();
    this.check();
    await closed;
  }

  /** Re-evaluates whether the server is closed (call when something busy() counts ended). */
  check(): void {
    if (this.#state !== 'closing' || !this.#listenerClosed) return;
    if (this.#connections.size > 0 || this.#listener.socketCount > 0) return;
    if (this.#hooks.busy?.() === true) return;
    this.#state = 'closed';
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
    this.#hooks.closed();
  }
}

// The sockets of the open connections, for stats().
function* socketsOf(connections: Iterable<CoreConnection>): Iterable<net.Socket> {
  for (const connection of connections) yield connection.socket;
}
