// The one address rule of every layer (internal): how a socket's peer and local endpoints are
// given as an `Address`. An IPv4 peer of a dual-stack listener ('::ffff:127.0.0.1') is plain IPv4
// everywhere: context, getExtraInfo('peername'), accept(), routes.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Address } from '../address.js';

const MAPPED = '::ffff:';

/** `{ host, port, family }` with an IPv4-mapped IPv6 host given as IPv4. */
export function tcpAddress(host: string, port: number, family: string | undefined): Address {
  if (host.startsWith(MAPPED) && net.isIPv4(host.slice(MAPPED.length))) {
    return { host: host.slice(MAPPED.length), port, family: 'IPv4' };
  }
  return { host, port, family: family ?? (net.isIPv6(host) ? 'IPv6' : 'IPv4') };
}

interface SocketLike {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  remoteFamily?: string | undefined;
  address?: () => unknown;
}

/** The peer of `socket`, or undefined when it has none (an in-memory duplex, a closed socket). */
export function peerAddress(socket: Duplex | null | undefined): Address | undefined {
  const s = socket as SocketLike | null | undefined;
  if (s === null || s === undefined || typeof s.remoteAddress !== 'string') return undefined;
  return tcpAddress(s.remoteAddress, s.remotePort ?? 0, s.remoteFamily);
}

/** The local end of `socket` (or of a listening server's `address()` result). */
export function localAddress(socket: Duplex | null | undefined): Address | undefined {
  const s = socket as SocketLike | null | undefined;
  if (s === null || s === undefined || typeof s.address !== 'function') return undefined;
  return fromAddressInfo(s.address());
}

/** Node's `address()` result (`AddressInfo`, a pipe path, `{}` or null) as an `Address`. */
export function fromAddressInfo(info: unknown): Address | undefined {
  if (typeof info === 'string') return { path: info };
  if (typeof info !== 'object' || info === null) return undefined;
  const { address, port, family } = info as { address?: unknown; port?: unknown; family?: unknown };
  if (typeof address !== 'string' || typeof port !== 'number') return undefined;
  return tcpAddress(address, port, typeof family === 'string' ? family : undefined);
}
