// The PROXY protocol reader (internal): takes HAProxy's PROXY header (v1 or v2) off a freshly
// accepted Duplex before anything else sees a byte, for one listener's settings. It is the one
// module the servers' accept path imports: it re-exports the parser (src/_proxy-header.ts) and the
// address helpers (src/_cidr.ts) it needs.
//
// What the reader guarantees:
// - it reads at most the header: bytes after it are put back with `unshift()`, so whoever reads
//   the socket next gets the payload from its first byte (however the header was cut into
//   segments, and whether or not the payload came in the header's segment);
// - it reads nothing from a peer that is not a trusted proxy (rejected at once);
// - it waits a bounded time (`timeout`) and buffers a bounded number of bytes (107 for v1,
//   `maxHeaderBytes` for v2), rejecting as soon as the bytes cannot be a valid header.
import type net from 'node:net';
import type { Duplex } from 'node:stream';

import type { Address } from './address.js';
import {
  compileTrustedProxies,
  DEFAULT_TRUSTED_PROXIES,
  normalizeAddress,
  type TrustedProxies,
} from './_cidr.js';
import {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_PROXY_TIMEOUT,
  parseProxyHeader,
  PROXY_V2_MAX_LENGTH,
  ProxyProtocolError,
  type ProxyHeader,
  type ProxyProtocolErrorCode,
  type ProxyProtocolVersion,
} from './_proxy-header.js';
import { InvalidArgumentError, OutOfRangeError } from './errors.js';

export { DEFAULT_TRUSTED_PROXIES, normalizeAddress };
export * from './_proxy-header.js';

/** Options of {@link ProxyHeaderReader}: what a listener accepts, validated once. */
export interface ProxyProtocolOptions {
  /** Which versions to accept (default `'any'`: v1 or v2, told apart by the signature). */
  version?: ProxyProtocolVersion | undefined;
  /**
   * The peers allowed to send a header: addresses, CIDR ranges (IPv4, IPv6) and `'unix'` (any
   * Unix-socket peer). Default {@link DEFAULT_TRUSTED_PROXIES}: loopback and Unix sockets.
   */
  trustedProxies?: readonly string[] | undefined;
  /** The longest wait for a complete header, in ms (default 5000). */
  timeout?: number | undefined;
  /** The longest v2 header accepted, TLVs included, in bytes (16 to 65551; default 4096). */
  maxHeaderBytes?: number | undefined;
}

/** Per-connection options of {@link ProxyHeaderReader.read}. */
export interface ReadProxyHeaderOptions {
  /**
   * The connection's real peer, checked against `trustedProxies`. Default: the socket's
   * `remoteAddress`/`remotePort`; a Duplex without them (in-memory) must be given one.
   */
  peer?: Address | undefined;
  /** Abandons the wait: the promise rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/** The option names used in error messages (a server passes its own: `proxyProtocol`, ...). */
export type ProxyProtocolOptionNames = Partial<Record<keyof ProxyProtocolOptions, string>>;

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return `\`${text}\` (${value === null ? 'null' : typeof value})`;
}

/**
 * Takes the PROXY header off freshly accepted connections, for one listener's settings (checked
 * once, in the constructor: a TypeError or RangeError naming the option).
 *
 * `read(socket)` resolves to the header once it is complete. It reads only the header: any bytes
 * after it are put back with `socket.unshift()`, and the socket is left not flowing (as accepted),
 * so the next `'data'` listener, `read()` or `pipe()` gets the payload from its first byte. While
 * it waits, the socket is in paused mode (a `'readable'` listener), so no other `'data'` listener
 * sees header bytes. Call it before anything else reads the socket; the socket must be a byte
 * stream (no encoding, not object mode).
 *
 * It rejects with a {@link ProxyProtocolError}: at once with `ERR_DB_PROXY_UNTRUSTED` if the peer
 * is not trusted (nothing read). A peer whose address is unknown (an in-memory Duplex given no
 * `peer`, or a TCP socket whose peer closed before its address was read, as a balancer's health
 * check does) may only send LOCAL, which carries no address: any other header from it is refused
 * with `ERR_DB_PROXY_UNTRUSTED` once read. It rejects with `ERR_DB_PROXY_HEADER` as soon as the
 * bytes cannot be a valid header, or if the peer ends, closes or fails first (the socket error as
 * `cause`); with `ERR_DB_PROXY_TIMEOUT` after `timeout` ms. On rejection the bytes read are dropped and the
 * socket is left open: the caller closes it (`socket.destroy()`).
 *
 * @example
 * ```ts
 * const proxy = new ProxyHeaderReader({ version: 'v2', trustedProxies: ['10.0.0.0/8'] });
 * net.createServer(async (socket) => {
 *   try {
 *     const header = await proxy.read(socket);
 *     if (header.command === 'LOCAL') return void socket.end(); // a health check
 *     const client = header.source ?? { host: socket.remoteAddress!, port: socket.remotePort! };
 *     socket.end(`hello ${JSON.stringify(client)}\n`);
 *   } catch {
 *     socket.destroy();
 *   }
 * });
 * ```
 */
export class ProxyHeaderReader {
  /** The accepted versions. */
  readonly version: ProxyProtocolVersion;
  /** The trusted peers, as given. */
  readonly trustedProxies: readonly string[];
  /** The bounded wait, in ms. */
  readonly timeout: number;
  /** The bound on a v2 header, in bytes. */
  readonly maxHeaderBytes: number;
  readonly #trusted: TrustedProxies;
  readonly #trustedName: string;

  constructor(options: ProxyProtocolOptions = {}, names: ProxyProtocolOptionNames = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(
        `Expected PROXY protocol options to be an object, got ${shown(options)}`,
      );
    }
    const name = (key: keyof ProxyProtocolOptions): string => names[key] ?? key;
    const version: unknown = options.version ?? 'any';
    if (version !== 'v1' && version !== 'v2' && version !== 'any') {
      const message = `Expected \`${name('version')}\` to be 'v1', 'v2' or 'any', got ${shown(version)}`;
      throw typeof version === 'string'
        ? new OutOfRangeError(message)
        : new InvalidArgumentError(message);
    }
    this.version = version;
    this.#trusted = compileTrustedProxies(
      options.trustedProxies ?? DEFAULT_TRUSTED_PROXIES,
      name('trustedProxies'),
    );
    this.trustedProxies = this.#trusted.entries;
    this.#trustedName = name('trustedProxies');
    this.timeout = checkNumber(name('timeout'), options.timeout ?? DEFAULT_PROXY_TIMEOUT, {
      min: Number.MIN_VALUE,
      max: 0x7fffffff, // setTimeout's largest delay
      what: 'a positive number of milliseconds (at most 2147483647)',
    });
    this.maxHeaderBytes = checkNumber(
      name('maxHeaderBytes'),
      options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      {
        min: 16,
        max: PROXY_V2_MAX_LENGTH,
        integer: true,
        what: `an integer from 16 to ${PROXY_V2_MAX_LENGTH}`,
      },
    );
  }

  /** True when `peer` may send a PROXY header (it is in `trustedProxies`). */
  trusts(peer: Address): boolean {
    return this.#trusted.trusts(normalizeAddress(peer));
  }

  /** Reads the header off `socket` (see the class doc for what it guarantees). */
  read(socket: Duplex, options: ReadProxyHeaderOptions = {}): Promise<ProxyHeader> {
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError(
        `Expected \`signal\` to be an AbortSignal, got ${shown(signal)}`,
      );
    }
    if (socket.readableObjectMode || socket.readableEncoding !== null) {
      throw new InvalidArgumentError(
        'Expected a byte stream: the socket has an encoding or is in object mode',
      );
    }
    const given = options.peer === undefined ? socketPeer(socket) : checkPeer(options.peer);
    const peer = given === undefined ? undefined : normalizeAddress(given);
    return new Promise<ProxyHeader>((resolve, reject) => {
      if (signal?.aborted) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- delivered unchanged
        reject(signal.reason);
        return;
      }
      if (peer !== undefined && !this.#trusted.trusts(peer)) {
        reject(this.#untrusted(peer));
        return;
      }
      if (socket.readableEnded || socket.destroyed) {
        reject(this.#failure('ERR_DB_PROXY_HEADER', 'the connection closed', 0, peer));
        return;
      }
      let buffered: Buffer = Buffer.alloc(0);
      const parseOptions = { version: this.version, maxHeaderBytes: this.maxHeaderBytes };
      const finish = (error: unknown, header?: ProxyHeader): void => {
        clearTimeout(timer);
        socket.off('readable', onReadable);
        socket.off('end', onEnd);
        socket.off('close', onClose);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        if (header === undefined) {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason, unchanged
          reject(error);
          return;
        }
        // after removing the 'readable' listener, so that the bytes wait for the next reader
        if (buffered.length > header.length) socket.unshift(buffered.subarray(header.length));
        resolve(header);
      };
      const onReadable = (): void => {
        let chunk: Buffer | null;
        while ((chunk = socket.read() as Buffer | null) !== null) {
          buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
          let header: ProxyHeader | null;
          try {
            header = parseProxyHeader(buffered, parseOptions);
          } catch (error) {
            const cause = error as ProxyProtocolError;
            finish(new ProxyProtocolError(cause.code, cause.message, { peer }));
            return;
          }
          if (header !== null) {
            // An unknown peer (a TCP socket that the peer closed or reset before its address was
            // read: a balancer's health check does this) gets only LOCAL, which has no address to
            // spoof and runs no handler.
            if (peer === undefined && header.command !== 'LOCAL') finish(this.#untrusted(peer));
            else finish(null, header);
            return;
          }
        }
      };
      const closed = (what: string, cause?: unknown): void =>
        finish(this.#failure('ERR_DB_PROXY_HEADER', what, buffered.length, peer, cause));
      const onEnd = (): void => closed('the peer ended the connection');
      const onClose = (): void => closed('the connection closed');
      const onError = (error: Error): void => closed('the connection failed', error);
      const onAbort = (): void => finish(signal!.reason);
      const timer = setTimeout(
        () =>
          finish(
            this.#failure(
              'ERR_DB_PROXY_TIMEOUT',
              `no complete header within ${this.timeout} ms`,
              buffered.length,
              peer,
            ),
          ),
        this.timeout,
      );
      socket.on('readable', onReadable);
      socket.on('end', onEnd);
      socket.on('close', onClose);
      socket.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #untrusted(peer: Address | undefined): ProxyProtocolError {
    const who =
      peer === undefined
        ? 'a peer whose address is unknown (pass `peer`; a TCP peer may have closed already)'
        : `peer ${format(peer)}`;
    return new ProxyProtocolError(
      'ERR_DB_PROXY_UNTRUSTED',
      `PROXY protocol header refused from ${who}: not in ${this.#trustedName} (${this.trustedProxies.join(', ')})`,
      { peer },
    );
  }

  #failure(
    code: ProxyProtocolErrorCode,
    what: string,
    received: number,
    peer: Address | undefined,
    cause?: unknown,
  ): ProxyProtocolError {
    const missing =
      received === 0
        ? 'no PROXY protocol header'
        : `an incomplete PROXY protocol header (${received} bytes)`;
    return new ProxyProtocolError(
      code,
      `Expected a PROXY ${this.version === 'any' ? 'v1 or v2' : this.version} header from ${peer === undefined ? 'an unknown peer' : format(peer)}: ${what} after ${missing}`,
      { peer, cause },
    );
  }
}

/**
 * Reads the PROXY header off a freshly accepted `socket`: `new ProxyHeaderReader(options)
 * .read(socket, options)` (see {@link ProxyHeaderReader}). A server should construct one reader
 * and reuse it, so that its options are checked once.
 *
 * @example
 * ```ts
 * const header = await readProxyHeader(socket, { version: 'v1', timeout: 3000 });
 * console.log(header.source); // { host: '203.0.113.7', port: 51000, family: 'IPv4' }
 * ```
 */
export function readProxyHeader(
  socket: Duplex,
  options: ProxyProtocolOptions & ReadProxyHeaderOptions = {},
): Promise<ProxyHeader> {
  return new ProxyHeaderReader(options).read(socket, options);
}

function checkNumber(
  name: string,
  value: unknown,
  range: { min: number; max: number; integer?: boolean; what: string },
): number {
  const message = `Expected \`${name}\` to be ${range.what}, got ${shown(value)}`;
  if (typeof value !== 'number') throw new InvalidArgumentError(message);
  if (
    Number.isNaN(value) ||
    value < range.min ||
    value > range.max ||
    (range.integer === true && !Number.isInteger(value))
  ) {
    throw new OutOfRangeError(message);
  }
  return value;
}

function checkPeer(peer: unknown): Address {
  if (typeof peer === 'object' && peer !== null) {
    if ('path' in peer && typeof peer.path === 'string') return peer as Address;
    if (
      'host' in peer &&
      typeof peer.host === 'string' &&
      'port' in peer &&
      typeof peer.port === 'number'
    ) {
      return peer as Address;
    }
  }
  throw new InvalidArgumentError(
    `Expected \`peer\` to be { host, port } or { path }, got ${shown(JSON.stringify(peer))}`,
  );
}

function socketPeer(socket: Duplex): Address | undefined {
  const { remoteAddress, remotePort, remoteFamily } = socket as Partial<net.Socket>;
  if (typeof remoteAddress !== 'string') return undefined;
  return { host: remoteAddress, port: remotePort ?? 0, family: remoteFamily ?? '' };
}

function format(address: Address): string {
  if ('path' in address) return `unix:${address.path}`;
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}
