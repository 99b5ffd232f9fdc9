// A Duplex over a StreamReader/StreamWriter pair, so that a legacy Dispatcher can own a
// connection of the modern server (internal; used by asStreamHandler()).
//
// The dispatcher reads this Duplex in paused mode; `_read()` pulls from the reader only while the
// Duplex's buffer is below its high-water mark, so a dispatcher whose readable() is false stops
// the reader, which pauses the socket. Writes go to the writer; a write's callback waits for the
// writer's drain() when the socket is congested, so the dispatcher's send() sees backpressure.
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ConnectionClosedError } from '../modern/errors.js';
import { readNow, type StreamReader } from '../modern/reader.js';
import type { Address, StreamWriter } from '../modern/writer.js';
import { feedsReader, observeWire, unobserveWire, type WireObserver } from '../modern/_wire.js';

type Callback = (error?: Error | null) => void;

const READ_SIZE = 65536;

/**
 * Told when the watched socket closes (the legacy session: it closes its dispatcher), and when
 * this Duplex is done: its `_final()` ran (everything written was handed to the writer) or it
 * was destroyed and its writer closed.
 */
export interface TransportCloseObserver {
  transportClosed(): void;
  duplexDone?(): void;
}

// StreamDuplex's #flags: a reader.read() is pending; _read() found nothing buffered (the next
// event of the watched socket reads); the observer was told transportClosed(); done (see
// TransportCloseObserver).
const READING = 1;
const WAITING = 2;
const CLOSE_TOLD = 4;
const DONE = 8;

// The listeners of a socket watched twice (not as the wire's observer).
interface OwnListeners {
  readonly event: () => void;
  readonly close: () => void;
}

// The read's callbacks, made on the first read (an idle connection never reads).
interface ReadCallbacks {
  readonly data: (chunk: Buffer) => void;
  readonly error: (error: unknown) => void;
}

function hasCode(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

// A lost connection is a disconnect for the legacy side (handleClose(), not handleError()): pass
// on the socket error when there is one, else an EPIPE-like error.
function toTransportError(error: unknown): Error {
  if (error instanceof ConnectionClosedError) {
    if (hasCode(error.cause)) return error.cause;
    return Object.assign(new Error(error.message), { code: 'EPIPE' });
  }
  return error instanceof Error ? error : new Error(String(error));
}

export class StreamDuplex extends Duplex implements WireObserver {
  readonly #reader: StreamReader;
  readonly #writer: StreamWriter;
  readonly #remote: Address;
  #flags = 0;
  // The socket that feeds the reader (the servers wire it: its 'data' feeds the reader, its
  // 'end'/'close' end it), watched instead of keeping a read pending while the connection is
  // idle; undefined for any other transport (a read stays pending then). Watched as the wire's
  // observer (no listener on the socket), or, when the wire has one already (a socket watched
  // twice), with listeners of its own.
  readonly #watched: net.Socket | undefined;
  // The listeners of #watched's events, when it is not the wire's observer.
  #own: OwnListeners | undefined = undefined;
  #observer: TransportCloseObserver | undefined = undefined;
  #callbacks: ReadCallbacks | undefined = undefined;

  constructor(
    reader: StreamReader,
    writer: StreamWriter,
    remoteAddress: Address,
    highWaterMark: number,
  ) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: highWaterMark,
      writableHighWaterMark: highWaterMark,
    });
    this.#reader = reader;
    this.#writer = writer;
    this.#remote = remoteAddress;
    const transport = writer.transport;
    if (transport instanceof net.Socket && !transport.destroyed && feedsReader(transport, reader)) {
      this.#watched = transport;
      // Told after the wire: the reader has the bytes (or the end) by then.
      if (!observeWire(transport, reader, this)) {
        // After the wiring's own listeners, for the same reason.
        const own: OwnListeners = {
          event: () => this.transportEvent(),
          close: () => this.transportClose(),
        };
        this.#own = own;
        transport.on('data', own.event);
        transport.on('end', own.event);
        transport.on('close', own.close);
      }
    }
  }

  /** Whether it watches a socket whose close it can report (see {@link observeClose}). */
  get watchesTransport(): boolean {
    return this.#watched !== undefined && !this.destroyed;
  }

  /**
   * `observer` is told once the watched socket closes (before this Duplex is destroyed), and,
   * with a `duplexDone()`, once this Duplex is done (see {@link TransportCloseObserver}).
   */
  observeClose(observer: TransportCloseObserver): void {
    this.#observer = observer;
  }

  /** Whether this Duplex is done already (its `_final()` ran, or it was destroyed and closed). */
  get done(): boolean {
    return (this.#flags & DONE) !== 0;
  }

  /** Like `net.Socket#remoteAddress`, for legacy code that looks at its socket. */
  get remoteAddress(): string | undefined {
    return 'host' in this.#remote ? this.#remote.host : undefined;
  }

  get remotePort(): number | undefined {
    return 'port' in this.#remote ? this.#remote.port : undefined;
  }

  get remoteFamily(): string | undefined {
    return 'family' in this.#remote ? this.#remote.family : undefined;
  }

  /** Like `net.Socket#setKeepAlive()`, on the real socket (a no-op without one). */
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    realSocket(this.#writer)?.setKeepAlive(enable, initialDelay);
    return this;
  }

  /** Like `net.Socket#setNoDelay()`, on the real socket (a no-op without one). */
  setNoDelay(noDelay?: boolean): this {
    realSocket(this.#writer)?.setNoDelay(noDelay);
    return this;
  }

  /** Like `tls.TLSSocket#getPeerCertificate()`: the peer's certificate, or `{}`. */
  getPeerCertificate(detailed?: boolean): object {
    const transport = this.#writer.transport;
    return transport instanceof tls.TLSSocket ? transport.getPeerCertificate(detailed) : {};
  }

  /** Like `net.Socket#address()`: the local address, or `{}` when there is none. */
  address(): { address: string; port: number; family: string } | Record<string, never> {
    const local = this.#writer.getExtraInfo('sockname') as Address | undefined;
    if (local === undefined || !('port' in local)) return {};
    return { address: local.host, port: local.port, family: local.family ?? '' };
  }

  // Per message, a read kept pending while the connection idles would be a promise chain that
  // outlives a young-generation GC at 10,000 connections (promoted, then collected by a full GC):
  // over a watched socket, a read is made only when the reader has something to give.
  override _read(): void {
    if ((this.#flags & READING) !== 0) return;
    const reader = this.#reader;
    const watched = this.#watched;
    if (
      watched !== undefined &&
      reader.bufferedLength === 0 &&
      !reader.atEof() &&
      reader.exception() === undefined &&
      !watched.destroyed
    ) {
      this.#flags |= WAITING;
      return;
    }
    this.#flags &= ~WAITING;
    // What the reader holds (or its end, or its error) is taken at once: no promise per chunk.
    let chunk: Buffer | undefined;
    try {
      chunk = readNow(reader, READ_SIZE);
    } catch (error) {
      StreamDuplex.#readFailed(this, error);
      return;
    }
    if (chunk !== undefined) {
      StreamDuplex.#dataRead(this, chunk);
      return;
    }
    this.#flags |= READING;
    const callbacks = (this.#callbacks ??= {
      data: (chunk) => StreamDuplex.#dataRead(this, chunk),
      error: (error) => StreamDuplex.#readFailed(this, error),
    });
    reader.read(READ_SIZE).then(callbacks.data, callbacks.error);
  }

  /** The watched socket delivered bytes or its end: a waiting _read() reads now. */
  transportEvent(): void {
    if ((this.#flags & WAITING) !== 0 && !this.destroyed) this._read();
  }

  /** The watched socket closed: a waiting _read() reads now, then the observer is told. */
  transportClose(): void {
    this.transportEvent();
    if ((this.#flags & CLOSE_TOLD) !== 0) return;
    this.#flags |= CLOSE_TOLD;
    this.#observer?.transportClosed();
  }

  static #unwatch(duplex: StreamDuplex): void {
    const watched = duplex.#watched;
    if (watched === undefined) return;
    const own = duplex.#own;
    if (own === undefined) {
      unobserveWire(watched, duplex);
      return;
    }
    duplex.#own = undefined;
    watched.removeListener('data', own.event);
    watched.removeListener('end', own.event);
    watched.removeListener('close', own.close);
  }

  // Done (once): the observer is told.
  static #done(duplex: StreamDuplex): void {
    if ((duplex.#flags & DONE) !== 0) return;
    duplex.#flags |= DONE;
    duplex.#observer?.duplexDone?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    try {
      this.#writer.write(chunk);
    } catch (error) {
      callback(toTransportError(error));
      return;
    }
    afterWrite(this.#writer, callback);
  }

  // Many small send()s of a corked dispatcher (AsyncChat corks per tick) arrive here at once.
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: Callback): void {
    try {
      for (const { chunk } of chunks) this.#writer.write(chunk);
    } catch (error) {
      callback(toTransportError(error));
      return;
    }
    afterWrite(this.#writer, callback);
  }

  override _final(callback: Callback): void {
    // The dispatcher ends its transport to close it: everything it sent has been handed to the
    // writer, whose graceful close (lingering, never truncating) takes over. The writer's close
    // ends the reader, which ends our readable side, and we close.
    this.#writer.close();
    callback();
    // Everything written was handed to the writer.
    StreamDuplex.#done(this);
    // The writer's close ended the reader without an event of the socket.
    if ((this.#flags & WAITING) !== 0) this._read();
  }

  override _destroy(error: Error | null, callback: Callback): void {
    this.#flags &= ~WAITING;
    StreamDuplex.#unwatch(this);
    const writer = this.#writer;
    if (error === null) writer.close();
    else writer.abort();
    void writer.waitClosed().then(() => {
      callback(error);
      StreamDuplex.#done(this);
    });
  }

  static #dataRead(duplex: StreamDuplex, chunk: Buffer): void {
    duplex.#flags &= ~READING;
    if (duplex.destroyed) return;
    duplex.push(chunk.length === 0 ? null : chunk);
  }

  static #readFailed(duplex: StreamDuplex, error: unknown): void {
    duplex.#flags &= ~READING;
    if (duplex.destroyed) return;
    // A reset or a lost connection is a close for the dispatcher; anything else (an idle timeout,
    // a server shutdown) reaches its handleError().
    if (error instanceof ConnectionClosedError) {
      if (hasCode(error.cause)) duplex.destroy(error.cause);
      else duplex.destroy();
    } else {
      duplex.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** The real socket under `writer`, when there is one (for the socket methods). */
function realSocket(writer: StreamWriter): net.Socket | undefined {
  const transport = writer.transport;
  return transport instanceof net.Socket ? transport : undefined;
}

// A write is done when the writer is not congested; else once it drained.
function afterWrite(writer: StreamWriter, callback: Callback): void {
  if (writer.bufferedLength < writer.transport.writableHighWaterMark) {
    callback();
    return;
  }
  writer.drain().then(
    () => callback(),
    (error: unknown) => callback(toTransportError(error)),
  );
}
