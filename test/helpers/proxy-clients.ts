// Clients behind a hand-written PROXY header, shared by the PROXY protocol specs (not a spec
// itself): the addresses a header carries, the headers, and a TLS client that runs over the same
// TCP connection after the header, as a balancer in TCP mode passes TLS through.
import net from 'node:net';
import tls from 'node:tls';
import { encodeProxyHeader } from '../../src/_proxy-protocol.js';
import { cert } from './tls-fixtures.js';

/** The client a header names (IPv4). */
export const CLIENT = { host: '203.0.113.7', port: 51000 };
/** The balancer's frontend a header names (IPv4). */
export const FRONTEND = { host: '198.51.100.1', port: 443 };
/** A v2 header from CLIENT to FRONTEND. */
export const V2 = encodeProxyHeader({ version: 2, source: CLIENT, destination: FRONTEND });
/** The IPv6 client of {@link V1}. */
export const V1_CLIENT = { host: '2001:db8::7', port: 51001 };
/** A v1 header from an IPv6 client. */
export const V1 = encodeProxyHeader({
  version: 1,
  source: V1_CLIENT,
  destination: { host: '2001:db8::1', port: 443 },
});
/** A v2 LOCAL header (a balancer's health check). */
export const LOCAL = encodeProxyHeader({ version: 2, command: 'LOCAL' });

/**
 * Sends `header` over a fresh TCP connection to 127.0.0.1:`port`, then runs a TLS client (trusting
 * the test certificate) over that connection; resolves once the handshake is done.
 *
 * @example
 * ```ts
 * const secure = await tlsAfterHeader(port, V2, { key, cert }); // with a client certificate
 * ```
 */
export function tlsAfterHeader(
  port: number,
  header: Buffer,
  options: tls.ConnectionOptions = {},
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port }, () => {
      raw.write(header);
      const secure = tls.connect({ socket: raw, ca: cert, servername: 'localhost', ...options });
      secure.once('secureConnect', () => resolve(secure));
      secure.once('error', reject);
    });
    raw.once('error', reject);
  });
}

/**
 * Resolves once `socket` closed; its errors are ignored and what it receives is discarded.
 *
 * @example
 * ```ts
 * await closed(net.connect({ host: '127.0.0.1', port }, () => raw.write(V2)));
 * ```
 */
export function closed(socket: net.Socket): Promise<void> {
  socket.on('error', () => undefined);
  socket.resume();
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}
