// The PROXY protocol step of an accept path, written once for every listener (internal): the
// servers' Listener (src/_core/listener.ts, plain TCP and TLS) and the legacy Dispatcher's
// listener (src/legacy/_listener.ts) both hand each fresh socket to takeProxyHeader().
//
//   header PROXY   the client's addresses become the socket's (setProxiedAddresses), then ready()
//   header LOCAL   a balancer's health check: closed gracefully, no handler ever sees it
//   bad header     malformed, missing, untrusted, too slow: the socket is destroyed, refused()
//   closing        the listener closed meanwhile: the socket is destroyed, nothing is reported
//
// The wait and the bytes are bounded by the reader (its `timeout`, and the header's size limits).
import type net from 'node:net';
import type { ProxyHeader, ProxyHeaderReader } from '../_proxy-protocol.js';
import { setProxiedAddresses } from './address.js';
import { closeGracefully } from './linger.js';

/** What {@link takeProxyHeader} tells its listener. */
export interface ProxyAcceptHooks {
  /** A Unix-socket listener's path: its peers have no address, so they are `{ path }`. */
  path?: string | undefined;
  /**
   * The listener's sockets still waiting for their header: `socket` is in it until the header
   * is settled (before any other hook runs), so that the listener can bound and close them.
   */
  awaiting?: Set<net.Socket> | undefined;
  /** Whether the listener is closing: a header that completes then is not handed over. */
  closing(): boolean;
  /** A good PROXY header: the socket's addresses are the client's; hand it over. */
  ready(socket: net.Socket, header: ProxyHeader): void;
  /** A bad, missing, untrusted or too slow header: the socket is already destroyed. */
  refused(error: unknown, socket: net.Socket): void;
}

/**
 * Reads the PROXY header off a freshly accepted `socket` with `reader`, then hands the socket on
 * (`ready`), closes it (LOCAL: gracefully; a bad header: destroyed, then `refused`), or, when
 * the listener closed meanwhile, destroys it silently. Call it before anything reads the socket;
 * the bytes after the header stay in the socket for whoever reads it next.
 *
 * @example
 * ```ts
 * net.createServer((socket) =>
 *   takeProxyHeader(reader, socket, {
 *     closing: () => false,
 *     ready: (s) => serve(s), // s.remoteAddress is the client's now
 *     refused: (error) => console.warn(error),
 *   }),
 * );
 * ```
 */
export function takeProxyHeader(
  reader: ProxyHeaderReader,
  socket: net.Socket,
  hooks: ProxyAcceptHooks,
): void {
  const { path, awaiting } = hooks;
  awaiting?.add(socket);
  reader.read(socket, path === undefined ? {} : { peer: { path } }).then(
    (header) => {
      awaiting?.delete(socket);
      if (socket.destroyed || hooks.closing()) {
        socket.destroy();
        return;
      }
      if (header.command === 'LOCAL') {
        closeGracefully(socket);
        return;
      }
      setProxiedAddresses(socket, header.source, header.destination);
      hooks.ready(socket, header);
    },
    (error: unknown) => {
      awaiting?.delete(socket);
      socket.destroy();
      // A listener that closed destroyed its sockets still waiting: not the peer's fault.
      if (!hooks.closing()) hooks.refused(error, socket);
    },
  );
}
