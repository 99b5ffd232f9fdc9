// The real socket's view, lent to the in-memory end a primary runs on in shadow mode (internal):
// a legacy primary sees the same remoteAddress, address(), setKeepAlive(), setNoDelay(),
// setTimeout() and, for TLS, getPeerCertificate() as it would on the socket itself. Only our own
// in-memory end is given these properties; no user object is touched.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Address } from '../address.js';

/**
 * Gives `end` the socket-like properties of `socket`, its peer being `peer`: the connection's, as
 * the core address rule gave it at accept (the socket itself no longer knows it once reset).
 */
export function lendSocketView(end: Duplex, socket: net.Socket, peer: Address): void {
  const host = 'host' in peer && peer.host !== '' ? peer : undefined;
  const methods: Record<string, (...args: never[]) => unknown> = {
    address: () => socket.address(),
    setKeepAlive: (enable?: boolean, delay?: number) => {
      socket.setKeepAlive(enable, delay);
      return end;
    },
    setNoDelay: (noDelay?: boolean) => {
      socket.setNoDelay(noDelay);
      return end;
    },
    setTimeout: (ms: number, callback?: () => void) => {
      socket.setTimeout(ms, callback);
      return end;
    },
  };
  if (socket instanceof tls.TLSSocket) {
    methods.getPeerCertificate = (detailed?: boolean) => socket.getPeerCertificate(detailed);
    methods.getCipher = () => socket.getCipher();
    methods.getProtocol = () => socket.getProtocol();
  }
  const descriptors: PropertyDescriptorMap = {
    remoteAddress: { value: host?.host, configurable: true },
    remotePort: { value: host?.port, configurable: true },
    remoteFamily: { value: host?.family, configurable: true },
  };
  for (const [name, value] of Object.entries(methods)) {
    descriptors[name] = { value, configurable: true, writable: true };
  }
  Object.defineProperties(end, descriptors);
}
