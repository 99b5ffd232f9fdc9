// The listening side of a Dispatcher (internal): bind/listen, the bounded accept queue, accept()
// and the close of a listener, including a close() that comes before listening has finished.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { peerAddress } from '../_core/address.js';
import { AbortError } from '../errors.js';
import { toAddress, type Address } from './_address.js';

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

/** A `net.Server` and the connections it accepted that nobody took with `accept()` yet. */
export class Listener {
  readonly server: net.Server;
  // Accepted sockets not yet taken by accept(); each carries the `swallow` error listener.
  readonly #pending: net.Socket[] = [];
  // How many accepted connections may wait for accept(): max(listen()'s backlog, 511).
  readonly #limit: number;
  // A new pending connection, or a server error once listening.
  readonly #onPending: () => void;
  readonly #onError: (error: unknown) => void;
  // Rejects the listen() promise while it is pending (close() before listening finished).
  #abort: ((error: Error) => void) | null = null;
  #listening = false;
  #closed = false;

  readonly #onRefused: (() => void) | undefined;

  constructor(
    backlog: number,
    onPending: () => void,
    onError: (error: unknown) => void,
    onRefused?: () => void,
  ) {
    // allowHalfOpen: like a kernel socket, end-of-stream from the peer does not end our side;
    // the dispatcher decides (asyncore: recv() returns b'' -> handleClose()).
    this.server = net.createServer({ allowHalfOpen: true });
    this.#limit = Math.max(backlog, MIN_ACCEPT_QUEUE);
    this.#onPending = onPending;
    this.#onError = onError;
    this.#onRefused = onRefused;
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

  /** Takes the oldest pending connection, its peer by the core address rule. */
  accept(): AcceptedConnection | null {
    const socket = this.#pending.shift();
    if (socket === undefined) return null;
    socket.removeListener('error', swallow);
    return { socket, address: peerAddress(socket) ?? { path: '' } };
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
  }

  #onConnection = (socket: net.Socket): void => {
    if (this.#pending.length >= this.#limit) {
      // The queue is full: refuse, as a full kernel backlog would, rather than grow without end.
      socket.destroy();
      this.#onRefused?.();
      return;
    }
    socket.on('error', swallow);
    this.#pending.push(socket);
    this.#onPending();
  };
}
