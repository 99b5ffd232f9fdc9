/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   Cancelled waits reject with `signal.reason` unchanged and stored errors are rethrown as given,
   whatever their type (DESIGN: "rejects with the signal's reason"). */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { InvalidArgumentError, TimeoutError } from './errors.js';
import type { StreamReader } from './reader.js';
import type { StreamWriter, StreamWriterOptions } from './writer.js';
import { wireSocket } from './_wire.js';
import { checkMilliseconds, checkPositiveInteger, checkSignal } from './_validate.js';

/** Options of {@link openConnection}. Give `port` (and `host`) for TCP, or `path`. */
export interface ConnectOptions {
  /** Host name or IP address (default `'localhost'`). */
  host?: string | undefined;
  /** TCP port. */
  port?: number | undefined;
  /** Unix socket path (or Windows pipe name), instead of `host`/`port`. */
  path?: string | undefined;
  /** `true` or TLS options to connect over TLS (`servername` defaults to `host`). */
  tls?: boolean | tls.ConnectionOptions | undefined;
  /** The reader's buffer limit (default 65536). */
  limit?: number | undefined;
  /** Cancels the connect: rejects with `signal.reason` and destroys the socket. */
  signal?: AbortSignal | undefined;
  /** Milliseconds allowed for the connect (and TLS handshake); then rejects with `TimeoutError`. */
  timeout?: number | undefined;
}

/** A connected pair, as asyncio's `open_connection()` returns. */
export interface StreamPair {
  /** Reads the connection. */
  reader: StreamReader;
  /** Writes to the connection. */
  writer: StreamWriter;
}

/**
 * Opens a TCP, Unix-socket or TLS connection and returns its reader and writer.
 *
 * The socket has TCP_NODELAY set (as asyncio does) and allows half-close: end-of-stream from the
 * peer ends the reader, and the writer stays usable until closed.
 *
 * @throws {TimeoutError} If `timeout` ms pass before the connection is established.
 * @throws The socket error (e.g. `ECONNREFUSED`), or `signal.reason` when aborted.
 *
 * @example
 * ```ts
 * const { reader, writer } = await openConnection({ host: '127.0.0.1', port: 8888, timeout: 5_000 });
 * writer.write('hello\n');
 * console.log((await reader.readLine()).toString());
 * writer.close();
 * await writer.waitClosed();
 * ```
 */
export function openConnection(options: ConnectOptions): Promise<StreamPair> {
  let socket: net.Socket;
  let signal: AbortSignal | undefined;
  let ms: number | undefined;
  let path: string | undefined;
  try {
    if (options.limit !== undefined) checkPositiveInteger('limit', options.limit);
    signal = checkSignal(options.signal);
    ms = options.timeout === undefined ? undefined : checkMilliseconds('timeout', options.timeout);
    if (signal?.aborted) return Promise.reject(signal.reason);
    path = options.path;
    const host = options.host ?? 'localhost';
    if (path === undefined && options.port === undefined) {
      throw new InvalidArgumentError('Expected `port` or `path` to be given, got neither');
    }
    const target: net.NetConnectOpts =
      path !== undefined
        ? { path, allowHalfOpen: true }
        : { host, port: options.port!, allowHalfOpen: true, noDelay: true };
    if (options.tls !== undefined && options.tls !== false) {
      const tlsOptions = options.tls === true ? {} : options.tls;
      const servername = path === undefined && net.isIP(host) === 0 ? host : undefined;
      socket = tls.connect({ servername, ...tlsOptions, ...target } as tls.ConnectionOptions);
    } else {
      socket = net.connect(target);
    }
  } catch (error) {
    return Promise.reject(error);
  }
  const connectEvent = socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect';
  return new Promise<StreamPair>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off(connectEvent, onConnect);
    };
    const fail = (error: unknown): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => fail(signal?.reason);
    const onError = (error: Error): void => fail(error);
    const onConnect = (): void => {
      cleanup();
      const { reader, writer } = wireSocket(
        socket,
        options.limit,
        path === undefined ? undefined : { extraInfo: { peername: { path } } },
      );
      resolve({ reader, writer });
    };
    socket.once(connectEvent, onConnect);
    socket.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (ms !== undefined) {
      const limit = ms;
      timer = setTimeout(
        () => fail(new TimeoutError(limit, `Cannot connect: timed out after ${limit} ms`)),
        limit,
      );
    }
  });
}

/** Options of {@link fromDuplex}. */
export interface FromDuplexOptions {
  /** The reader's buffer limit (default 65536). */
  limit?: number | undefined;
  /** Values for {@link StreamWriter.getExtraInfo} (e.g. `peername` of a non-socket transport). */
  extraInfo?: StreamWriterOptions['extraInfo'];
}

/**
 * A reader and a writer over an already-connected `Duplex` (a socket from elsewhere, an
 * in-memory pair, or a Duplex an adapter builds): what {@link openConnection} does after
 * connecting. The Duplex is read in flowing mode, paused and resumed by the reader's flow
 * control; its end-of-stream ends the reader; its error becomes a `ConnectionClosedError` (with
 * the error as `cause`) in the reader.
 *
 * @example
 * ```ts
 * // a socket that some other code connected, e.g. one handed over by a legacy listener
 * const { reader, writer } = fromDuplex(socket);
 * writer.write('HELLO\n');
 * const reply = await reader.readLine();
 * ```
 */
export function fromDuplex(duplex: Duplex, options: FromDuplexOptions = {}): StreamPair {
  if (options.limit !== undefined) checkPositiveInteger('limit', options.limit);
  const { reader, writer } = wireSocket(duplex, options.limit, { extraInfo: options.extraInfo });
  return { reader, writer };
}
