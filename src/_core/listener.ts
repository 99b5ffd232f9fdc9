// Listening and accepting, written once for startServer's Server and the MixedServer (internal).
//
//   start()          listens on every host (one port shared), in order; a close() meanwhile makes
//                    it reject with AbortError and leaves nothing listening
//   'connection'     every TCP socket is tracked from its first moment (TLS ones in handshake too)
//   PROXY protocol   the header is read off the raw TCP socket first (src/_core/proxy-accept.ts);
//                    only then does the connection go on: to its handler, or for TLS to the
//                    handshake, so that the balancer's header never reaches the TLS layer
//   TLS              the server is created NOT half-open, so a client that sends part of a
//                    ClientHello and a FIN is closed at once; a connection becomes half-open only
//                    once its handshake is done. Every tlsClientError (a failed or stalled
//                    handshake, handshakeTimeout) destroys the socket.
//   close()          stops listening (idempotent) and destroys the sockets still waiting for
//                    their PROXY header; closed() resolves once every net.Server closed
//   destroyAll()     cuts every tracked socket (a forced shutdown)
import net from 'node:net';
import tls from 'node:tls';
import type { Address } from '../address.js';
import { AbortError, InvalidStateError } from '../errors.js';
import type { ProxyHeader, ProxyHeaderReader } from '../_proxy-protocol.js';
import { fromAddressInfo, setProxiedAddresses } from './address.js';
import { takeProxyHeader } from './proxy-accept.js';

export interface ListenerOptions {
  hosts: readonly (string | undefined)[];
  port: number;
  path: string | undefined;
  backlog: number | undefined;
  tls: tls.TlsOptions | undefined;
  handshakeTimeout: number;
  /** Sockets beyond this many open at once (lingering ones count) are refused at once. */
  maxConnections?: number | undefined;
  /** Reads each connection's PROXY protocol header before it is handed over. */
  proxy?: ProxyHeaderReader | undefined;
  /** A connection whose PROXY header was bad, missing or untrusted (already destroyed). */
  onProxyError?: ((error: unknown) => void) | undefined;
  /** A socket was refused (over maxConnections). */
  onRefused?: (() => void) | undefined;
  /** A tracked socket closed (the server may now be closed): the raw TCP socket. */
  onSocketClose?: ((socket: net.Socket) => void) | undefined;
  /** A connection ready for its handler (for TLS: after the handshake). */
  onConnection(socket: net.Socket): void;
  /** An error of a listening socket after it started listening. */
  onError(error: unknown): void;
  /** A TLS client whose handshake failed or stalled (already destroyed). */
  onTlsClientError?: ((error: unknown) => void) | undefined;
}

const ignore = (): void => {};

/**
 * Removes the listener that keeps an accepted socket's errors quiet until a handler owns it: call
 * it once the socket's new owner listens to `'error'` itself (one listener fewer per connection).
 */
export function ownSocketErrors(socket: net.Socket): void {
  socket.off('error', ignore);
}

export class Listener {
  readonly #options: ListenerOptions;
  readonly #servers: net.Server[] = [];
  readonly #sockets = new Set<net.Socket>();
  // Raw sockets whose PROXY header is still awaited: close() destroys them (no handler is theirs).
  readonly #awaitingHeader = new Set<net.Socket>();
  // With tls and a PROXY header: the TLS server that runs the handshakes (it never listens; each
  // raw socket is given to it with emit('connection') once its header is read), and the header
  // of each raw socket in handshake, whose addresses the TLS socket takes over.
  #tlsServer: tls.Server | undefined;
  readonly #headers = new WeakMap<net.Socket, ProxyHeader>();
  #openServers = 0;
  #closing = false;
  #closedWaiters: (() => void)[] = [];

  constructor(options: ListenerOptions) {
    this.#options = options;
  }

  /** Whether at least one socket listens and close() was not called. */
  get listening(): boolean {
    return !this.#closing && this.#servers.some((server) => server.listening);
  }

  /** Every raw TCP socket accepted and not yet closed (TLS ones in handshake included). */
  get socketCount(): number {
    return this.#sockets.size;
  }

  /**
   * Whether `socket` is tracked: its 'close' reaches `onSocketClose` (a plain TCP socket; for TLS
   * the raw socket under the TLS one is tracked, not the TLS socket).
   */
  tracks(socket: net.Socket): boolean {
    return this.#sockets.has(socket);
  }

  /** Listens on every host; rejects with the listen error or, after close(), an AbortError. */
  async start(): Promise<void> {
    const { hosts, path, backlog } = this.#options;
    let port = this.#options.port;
    try {
      for (const host of path !== undefined ? [undefined] : hosts) {
        if (this.#closing) throw new AbortError('Cannot start serving: the server was closed');
        const server = this.#createServer();
        this.#servers.push(server);
        await new Promise<void>((resolve, reject) => {
          const onError = (error: Error): void => {
            server.off('listening', onListening);
            closedServers.add(server); // it never listened: nothing to close
            reject(error);
          };
          const onListening = (): void => {
            server.off('error', onError);
            resolve();
          };
          server.once('error', onError);
          server.once('listening', onListening);
          const options: net.ListenOptions =
            path !== undefined ? { path, backlog } : { host, port, backlog };
          server.listen(options);
        });
        if (this.#closing) throw new AbortError('Cannot start serving: the server was closed');
        this.#openServers++;
        server.on('error', (error) => this.#options.onError(error));
        const address = server.address();
        if (address !== null && typeof address === 'object') port = address.port;
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The addresses listened on (one per host), with the real port. */
  addresses(): Address[] {
    const result: Address[] = [];
    for (const server of this.#servers) {
      const address = server.listening ? fromAddressInfo(server.address()) : undefined;
      if (address !== undefined) result.push(address);
    }
    return result;
  }

  /** Stops listening. Idempotent. Connections already accepted go on. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    for (const server of this.#servers) {
      // A server still binding closes as soon as it listens: net.Server.close() before
      // 'listening' would throw ERR_SERVER_NOT_RUNNING later, so wait for either outcome.
      if (server.listening) this.#closeServer(server);
      else if (!closedServers.has(server)) {
        server.once('listening', () => this.#closeServer(server));
        server.once('error', () => queueMicrotask(() => this.#settleServer()));
      }
    }
    for (const socket of this.#awaitingHeader) socket.destroy();
    this.#checkClosed();
  }

  /** Resolves once every listening socket is closed (connections do not count). */
  closed(): Promise<void> {
    if (this.#closing && this.#openServers === 0 && this.#pendingServers() === 0) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#closedWaiters.push(resolve));
  }

  /** Destroys every tracked socket, TLS handshakes included. */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  // The PROXY header comes first: the client's addresses from it become the connection's; a
  // LOCAL header (a balancer's health check) is closed without a handler. `then` is where the
  // connection goes next: its handler, or the TLS handshake.
  #readProxyHeader(
    reader: ProxyHeaderReader,
    socket: net.Socket,
    then: (socket: net.Socket, header: ProxyHeader) => void,
  ): void {
    takeProxyHeader(reader, socket, {
      path: this.#options.path,
      awaiting: this.#awaitingHeader,
      closing: () => this.#closing,
      ready: then,
      refused: (error) => this.#options.onProxyError?.(error),
    });
  }

  // A raw socket with its PROXY header read goes to the TLS server's handshake (see #tlsServer).
  #startHandshake = (socket: net.Socket, header: ProxyHeader): void => {
    this.#headers.set(socket, header);
    this.#tlsServer!.emit('connection', socket);
  };

  #pendingServers(): number {
    return this.#servers.filter((server) => !server.listening && !closedServers.has(server)).length;
  }

  #closeServer(server: net.Server): void {
    // Stop listening now; the accepted connections are ours to close, not net.Server's: its
    // close callback would wait for them.
    server.close();
    closedServers.add(server);
    this.#settleServer();
  }

  #settleServer(): void {
    this.#openServers = this.#servers.filter(
      (server) => server.listening && !closedServers.has(server),
    ).length;
    this.#checkClosed();
  }

  #checkClosed(): void {
    if (!this.#closing || this.#openServers > 0 || this.#pendingServers() > 0) return;
    const waiters = this.#closedWaiters;
    this.#closedWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #createServer(): net.Server {
    const options = this.#options;
    const onSocket = (socket: net.Socket): void => {
      if (this.#closing || socket.destroyed) {
        socket.destroy();
        return;
      }
      // Half-open only once the handshake is done (see the module comment).
      socket.allowHalfOpen = true;
      options.onConnection(socket);
    };
    // One 'close' listener for every tracked socket of this server (`this` is the socket): no
    // closure per connection.
    const sockets = this.#sockets;
    const onTrackedClose = function (this: net.Socket): void {
      sockets.delete(this);
      options.onSocketClose?.(this);
    };
    // The tracking listener comes first, so that a refused socket never reaches onSocket.
    const track = (socket: net.Socket): boolean => {
      if (this.#closing) {
        socket.destroy();
        return false;
      }
      const max = options.maxConnections;
      if (max !== undefined && this.#sockets.size >= max) {
        socket.destroy();
        options.onRefused?.();
        return false;
      }
      this.#sockets.add(socket);
      // 'close' comes once: `on`, without once()'s wrapper.
      socket.on('close', onTrackedClose);
      // Until a handler owns it, an error of the socket is nobody's (a reset in handshake).
      socket.on('error', ignore);
      return true;
    };
    const proxy = options.proxy;
    if (options.tls !== undefined && proxy !== undefined) {
      // PROXY first, on the raw TCP socket; then the handshake, by one TLS server that never
      // listens. Its raw sockets are not half-open either (see the module comment).
      this.#tlsServer ??= this.#createTlsServer(onSocket);
      const server = net.createServer({ allowHalfOpen: false, noDelay: true });
      server.on('connection', (socket: net.Socket) => {
        if (track(socket)) this.#readProxyHeader(proxy, socket, this.#startHandshake);
      });
      return server;
    }
    if (options.tls !== undefined) {
      const server = this.#createTlsServer(onSocket);
      server.prependListener('connection', (socket: net.Socket) => void track(socket));
      return server;
    }
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    server.on('connection', (socket: net.Socket) => {
      if (!track(socket)) return;
      if (this.#closing || socket.destroyed) socket.destroy();
      else if (proxy === undefined) onSocket(socket);
      else this.#readProxyHeader(proxy, socket, onSocket);
    });
    return server;
  }

  #createTlsServer(onSocket: (socket: net.Socket) => void): tls.Server {
    const options = this.#options;
    const server = tls.createServer({
      ...options.tls,
      handshakeTimeout: options.handshakeTimeout,
      allowHalfOpen: false,
      noDelay: true,
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      // The TLS socket reads its peer off the raw socket's handle (the balancer): give it the
      // header's addresses. `_parent` (the wrapped net.Socket) is Node's, stable since 0.11; the
      // public API has no other link from a server's TLS socket to its raw socket.
      const raw = (socket as unknown as { _parent?: unknown })._parent;
      const header = raw instanceof net.Socket ? this.#headers.get(raw) : undefined;
      if (header !== undefined) setProxiedAddresses(socket, header.source, header.destination);
      else if (options.proxy !== undefined) {
        // Never hand over a proxied connection with the balancer's address as the client's.
        socket.destroy();
        options.onTlsClientError?.(
          new InvalidStateError(
            'Cannot find the PROXY header of a TLS connection: its socket was replaced',
          ),
        );
        return;
      }
      onSocket(socket);
    });
    server.on('tlsClientError', (error: Error, socket: net.Socket) => {
      socket.destroy();
      options.onTlsClientError?.(error);
    });
    return server;
  }
}

// net.Server has no public "close() was called" flag.
const closedServers = new WeakSet<net.Server>();
