// Setup of a Dispatcher (internal file): its constructor's options (exported by dispatcher.ts),
// their checks, and the client socket of connect().
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Address } from './_address.js';
import { describeValue } from './_bytes.js';
import type { ConnectEvent } from './_transport.js';
import type { SocketMap } from './socket-map.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors.js';

/** Options of the {@link Dispatcher} constructor. */
export interface DispatcherOptions {
  /**
   * An already connected (or connecting) transport: a `net.Socket`, a `tls.TLSSocket`, or any
   * `stream.Duplex`. A socket that is still connecting (`socket.connecting`, e.g. right after
   * `net.connect()` / `tls.connect()`) is reported through `handleConnect()` once it connects
   * (for TLS: once the handshake is done).
   */
  socket?: Duplex;
  /** The map this dispatcher joins. Default: the shared `socketMap`. */
  map?: SocketMap;
  /**
   * How long (ms) a closed connection may linger without progress: sending what was sent before
   * `close()`, then waiting for the peer's end-of-stream while unread input is discarded. Then
   * the socket is destroyed, so a peer that never reads cannot hold it. Default 5_000;
   * `Infinity` waits as long as the peer keeps it open.
   */
  lingerTimeout?: number;
  /**
   * The most output bytes a queueing dispatcher (`DispatcherWithSend`, `AsyncChat`) holds beyond
   * what its transport took before it stops reading (`handleRead()` waits until the queue is
   * back under the bound), so a peer that sends but never reads is pushed back by TCP instead of
   * growing the queue without end. Default 1 MiB; `Infinity` restores asyncore's unbounded queue.
   */
  maxOutgoing?: number;
}

/** The default of `maxOutgoing`: queued output above it stops reading. */
export const DEFAULT_MAX_OUTGOING = 1024 * 1024;

/**
 * The constructor's `socket` option, checked, with the event that says it connected: none for a
 * connected socket, `'connect'` (TLS: `'secureConnect'`) for one still connecting.
 */
export function checkSocket(
  socket: unknown,
): { socket: Duplex; connectEvent: ConnectEvent | null } | undefined {
  if (socket === undefined) return undefined;
  const duplex = typeof socket === 'object' ? (socket as Partial<Duplex> | null) : null;
  if (duplex === null || typeof duplex.read !== 'function' || typeof duplex.write !== 'function') {
    throw new InvalidArgumentError(
      `Expected \`socket\` to be a stream.Duplex, got \`${describeValue(socket)}\` (${typeof socket})`,
    );
  }
  if ((socket as Partial<net.Socket>).connecting !== true) {
    return { socket: socket as Duplex, connectEvent: null };
  }
  const connectEvent = socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect';
  return { socket: socket as Duplex, connectEvent };
}

/** A client socket to `address`, bound locally to `bound`'s host/port when given. */
export function connectSocket(address: Address, bound: Address | null): net.Socket {
  if ('path' in address) return net.connect({ path: address.path, allowHalfOpen: true });
  return net.connect({
    host: address.host === '' ? 'localhost' : address.host,
    port: address.port,
    allowHalfOpen: true,
    ...(bound !== null && 'host' in bound
      ? { localAddress: bound.host || undefined, localPort: bound.port || undefined }
      : {}),
  });
}

function checkBound(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new OutOfRangeError(
      `Expected \`${name}\` to be a non-negative number or Infinity, got \`${describeValue(value)}\` (${typeof value})`,
    );
  }
  return value;
}

/** The checked `lingerTimeout` and `maxOutgoing` of the Dispatcher constructor's options. */
export function validateOptions(
  options: { lingerTimeout?: unknown; maxOutgoing?: unknown },
  defaultLinger: number,
): { lingerTimeout: number; maxOutgoing: number } {
  return {
    lingerTimeout: checkBound('lingerTimeout', options.lingerTimeout, defaultLinger),
    maxOutgoing: checkBound('maxOutgoing', options.maxOutgoing, DEFAULT_MAX_OUTGOING),
  };
}
