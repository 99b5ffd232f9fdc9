// The one address rule of every layer (internal): how a socket's peer and local endpoints are
// given as an `Address`. An IPv4 peer of a dual-stack listener ('::ffff:127.0.0.1') is plain IPv4
// everywhere: context, getExtraInfo('peername'), accept(), routes.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Address } from '../address.js';

const MAPPED = '::ffff:';

// The addresses a PROXY protocol header gave a connection: they are its addresses everywhere.
const proxied = new WeakMap<object, { peer: Address | undefined; local: Address | undefined }>();

/**
 * Records the client's and the server's address from a PROXY header for `socket`. The socket's
 * own `remoteAddress`/`remotePort`/`remoteFamily` (and `localAddress`/`localPort`) are shadowed
 * by the header's, so that code reading them directly (a legacy handler) sees the client too.
 * Only sockets this library accepted are given these properties.
 */
export function setProxiedAddresses(
  socket: Duplex,
  peer: Address | undefined,
  local: Address | undefined,
): void {
  proxied.set(socket, { peer, local });
  const descriptors: PropertyDescriptorMap = {};
  if (peer !== undefined && 'host' in peer) {
    descriptors.remoteAddress = { value: peer.host, configurable: true };
    descriptors.remotePort = { value: peer.port, configurable: true };
    descriptors.remoteFamily = { value: peer.family, configurable: true };
  }
  if (local !== undefined && 'host' in local) {
    descriptors.localAddress = { value: local.host, configurable: true };
    descriptors.localPort = { value: local.port, configurable: true };
  }
  Object.defineProperties(socket, descriptors);
}

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
  const header = socket === null || socket === undefined ? undefined : proxied.get(socket);
  if (header?.peer !== undefined) return header.peer;
  const s = socket as SocketLike | null | undefined;
  if (s === null || s === undefined || typeof s.remoteAddress !== 'string') return undefined;
  return tcpAddress(s.remoteAddress, s.remotePort ?? 0, s.remoteFamily);
}

/**
 * The peer of `socket`, as {@link peerAddress} gives it, read without leaving Node's cache of it
 * behind: Node keeps a peer it has read on the socket (`_peername`, an object and a string, 88
 * bytes per connection). For a layer that needs the peer once (the legacy `accept()`) and not
 * after the socket closed; a later read reads it again.
 */
export function readPeerOnce(socket: Duplex | null | undefined): Address | undefined {
  if (socket === null || socket === undefined) return undefined;
  const cached = socket as Duplex & { _peername?: unknown };
  const before = cached._peername;
  const peer = peerAddress(socket);
  // Assigned, not deleted: the socket keeps its shape.
  if (before === undefined && cached._peername !== undefined) cached._peername = undefined;
  return peer;
}

/**
 * Makes Node read `socket`'s peer now: it keeps what it read, so that {@link peerAddress} still
 * finds the peer once the socket has closed (unread, a closed socket's peer is unknown).
 */
export function peekPeer(socket: net.Socket): void {
  // Reading the property is the effect.
  socket.remoteAddress satisfies string | undefined;
}

/** The local end of `socket` (or of a listening server's `address()` result). */
export function localAddress(socket: Duplex | null | undefined): Address | undefined {
  const header = socket === null || socket === undefined ? undefined : proxied.get(socket);
  if (header?.local !== undefined) return header.local;
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
