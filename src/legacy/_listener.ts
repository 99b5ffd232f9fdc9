// The listening side of a Dispatcher (internal): bind/listen, the bounded accept queue, accept()
// and the close of a listener, including a close() that comes before listening has finished.
//
// With the PROXY protocol, a connection is offered to accept() only once its header is read
// (by the servers' own step, src/_core/proxy-accept.ts): until then it waits outside the accept
// queue, but counts against its bound, so that slow or silent peers cannot hold more sockets
// than the queue would. A bad, missing, untrusted or too slow header closes that connection
// (the map's stats() count it as refused) and is reported to `onProxyError`, never to
// handleError(): one bad peer must not close the listening dispatcher.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { readPeerOnce } from '../_core/address.js';
import { takeProxyHeader } from '../_core/proxy-accept.js';
import { AbortError, ProxyProtocolError } from '../errors.js';
import { toAddress, type Address } from './_address.js';
import type { ProxyHeaderReader } from '../_proxy-protocol.js';

// The least number of accepted connections a listener lets wait for accept() (see listen()).
export const MIN_ACCEPT_QUEUE = 511;

const swallow = (): void => {};

/** What {@link Dispatcher.accept} returns: asyncore's `(conn, addr)` pair. */
export interface AcceptedConnection {
  /** The accepted connection; wrap it in a dispatcher at once. */
  socket: Duplex;
  /** The peer's address (asyncore's `addr`), by the one address rule: IPv4 peers as IPv4. */
  address: Address;
}

/** What a {@link Listener} tells its dispatcher. */
export interface ListenerHooks {
  /** A new connection waits for accept(). */
  pending(): void;
  /** An error of the listening socket once listening. */
  error(error: unknown): void;
  /** A connection was refused: the accept queue was full, or its PROXY header was bad. */
  refused?: (() => void) | undefined;
  /** Reads each connection's PROXY protocol header before it is offered (see the module comment). */
  proxy?: ProxyHeaderReader | undefined;
  /** A connection closed for its PROXY header (already destroyed). */
  proxyError?: ((error: ProxyProtocolError) => void) | undefined;
}

/** A `net.Server` and the connections it accepted that nobody took with `accept()` yet. */
export class Listener {
  readonly server: net.Server;
  // Accepted sockets not yet taken by accept(); each carries the `swallow` error listener.
  readonly #pending: net.Socket[] = [];
  // Accepted sockets whose PROXY header is still awaited (with the `swallow` listener too); they
  // count against #limit, and close() destroys them.
  readonly #awaitingHeader = new Set<net.Socket>();
  // How many accepted connections may wait for accept(): max(listen()'s backlog, 511).
  readonly #limit: number;
  readonly #hooks: ListenerHooks;
  // The listening path (a Unix socket), whose peers are `{ path }` for the PROXY header's check.
  #path: string | undefined;
  // Rejects the listen() promise while it is pending (close() before listening finished).
  #abort: ((error: Error) => void) | null = null;
  #listening = false;
  #closed = false;

  constructor(backlog: number, hooks: ListenerHooks) {
    // allowHalfOpen: like a kernel socket, end-of-stream from the peer does not end our side;
    // the dispatcher decides (asyncore: recv() returns b'' -> handleClose()).
    this.server = net.createServer({ allowHalfOpen: true });
    this.#limit = Math.max(backlog, MIN_ACCEPT_QUEUE);
    this.#hooks = hooks;
    this.server.on('connection', this.#onConnection);
  }

  /** How many accepted connections wait for `accept()`. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Listens on `bound`; rejects with the server's error, or an AbortError after `close()`. */
  listen(bound: Address, backlog: number): Promise<void> {
    const server = this.server;
    return new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => {
        this.#abort = null;
        server.removeListener('error', fail);
        reject(error);
      };
      this.#abort = fail;
      this.#path = 'path' in bound ? bound.path : undefined;
      server.once('error', fail);
      const options =
        'path' in bound
          ? { path: bound.path, backlog }
          : { host: bound.host === '' ? undefined : bound.host, port: bound.port, backlog };
      server.listen(options, () => {
        if (this.#closed) return;
        this.#listening = true;
        this.#abort = null;
        server.removeListener('error', fail);
        server.on('error', this.#onError);
        resolve();
      });
    });
  }

  /** The listening address (the real port after port 0), or null. */
  address(): Address | null {
    return toAddress(this.server.address());
  }

  /**
   * Takes the oldest pending connection, its peer by the core address rule (read once: the socket
   * does not keep a copy, asyncore's `addr` is the caller's to keep).
   */
  accept(): AcceptedConnection | null {
    const socket = this.#pending.shift();
    if (socket === undefined) return null;
    socket.removeListener('error', swallow);
    return { socket, address: readPeerOnce(socket) ?? { path: '' } };
  }

  /**
   * Stops listening and destroys the connections not accepted. A listen() still pending rejects
   * with an AbortError, and the server, should it bind after all, is closed at once.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const server = this.server;
    server.removeListener('connection', this.#onConnection);
    server.removeListener('error', this.#onError);
    server.on('error', swallow);
    if (this.#listening) {
      server.close();
    } else {
      this.#abort?.(
        new AbortError('Cannot listen(): the dispatcher was closed before listening had finished'),
      );
      // Binding may still finish (a host name lookup is under way): then close at once.
      server.once('listening', () => server.close());
    }
    for (const socket of this.#pending.splice(0)) socket.destroy();
    for (const socket of this.#awaitingHeader) socket.destroy();
  }

  #onError = (error: unknown): void => {
    this.#hooks.error(error);
  };

  #onConnection = (socket: net.Socket): void => {
    if (this.#pending.length + this.#awaitingHeader.size >= this.#limit) {
      // The queue is full: refuse, as a full kernel backlog would, rather than grow without end.
      socket.destroy();
      this.#hooks.refused?.();
      return;
    }
    socket.on('error', swallow);
    const proxy = this.#hooks.proxy;
    if (proxy === undefined) this.#offer(socket);
    else this.#readProxyHeader(proxy, socket);
  };

  #offer(socket: net.Socket): void {
    this.#pending.push(socket);
    this.#hooks.pending();
  }

  #readProxyHeader(reader: ProxyHeaderReader, socket: net.Socket): void {
    takeProxyHeader(reader, socket, {
      path: this.#path,
      awaiting: this.#awaitingHeader,
      closing: () => this.#closed,
      ready: (ready) => this.#offer(ready),
      refused: (error) => {
        this.#hooks.refused?.();
        this.#hooks.proxyError?.(
          error instanceof ProxyProtocolError
            ? error
            : new ProxyProtocolError('ERR_DB_PROXY_HEADER', String(error), { cause: error }),
        );
      },
    });
  }
}
