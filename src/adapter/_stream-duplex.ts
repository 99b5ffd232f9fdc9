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

/** Told when the watched socket closes (the legacy session: it closes its dispatcher). */
export interface TransportCloseObserver {
  transportClosed(): void;
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
  // A reader.read() is pending.
  #reading = false;
  // The socket that feeds the reader (the servers wire it: its 'data' feeds the reader, its
  // 'end'/'close' end it), watched instead of keeping a read pending while the connection is
  // idle; undefined for any other transport (a read stays pending then). Watched as the wire's
  // observer (no listener on the socket), or, when the wire has one already (a socket watched
  // twice), with listeners of its own.
  readonly #watched: net.Socket | undefined;
  // _read() found nothing buffered: the next event of #watched reads.
  #waiting = false;
  // The listener of #watched's events, when it is not the wire's observer.
  #ownListener: (() => void) | undefined = undefined;
  #ownCloseListener: (() => void) | undefined = undefined;
  #closeObserver: TransportCloseObserver | undefined = undefined;
  // The read's callbacks, made on the first read (an idle connection never reads).
  #onData: ((chunk: Buffer) => void) | undefined = undefined;
  #onReadError: ((error: unknown) => void) | undefined = undefined;

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
        const listener = (): void => this.transportEvent();
        const onClose = (): void => this.transportClose();
        this.#ownListener = listener;
        this.#ownCloseListener = onClose;
        transport.on('data', listener);
        transport.on('end', listener);
        transport.on('close', onClose);
      }
    }
  }

  /** Whether it watches a socket whose close it can report (see {@link observeClose}). */
  get watchesTransport(): boolean {
    return this.#watched !== undefined && !this.destroyed;
  }

  /** `observer` is told once the watched socket closes (before this Duplex is destroyed). */
  observeClose(observer: TransportCloseObserver): void {
    this.#closeObserver = observer;
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

  /** The real socket under the writer, when there is one (for the socket methods below). */
  get #socket(): net.Socket | undefined {
    const transport = this.#writer.transport;
    return transport instanceof net.Socket ? transport : undefined;
  }

  /** Like `net.Socket#setKeepAlive()`, on the real socket (a no-op without one). */
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#socket?.setKeepAlive(enable, initialDelay);
    return this;
  }

  /** Like `net.Socket#setNoDelay()`, on the real socket (a no-op without one). */
  setNoDelay(noDelay?: boolean): this {
    this.#socket?.setNoDelay(noDelay);
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
    if (this.#reading) return;
    const reader = this.#reader;
    const watched = this.#watched;
    if (
      watched !== undefined &&
      reader.bufferedLength === 0 &&
      !reader.atEof() &&
      reader.exception() === undefined &&
      !watched.destroyed
    ) {
      this.#waiting = true;
      return;
    }
    this.#waiting = false;
    // What the reader holds (or its end, or its error) is taken at once: no promise per chunk.
    let chunk: Buffer | undefined;
    try {
      chunk = readNow(reader, READ_SIZE);
    } catch (error) {
      this.#readFailed(error);
      return;
    }
    if (chunk !== undefined) {
      this.#dataRead(chunk);
      return;
    }
    this.#reading = true;
    let onData = this.#onData;
    let onReadError = this.#onReadError;
    if (onData === undefined || onReadError === undefined) {
      onData = this.#onData = (chunk) => this.#dataRead(chunk);
      onReadError = this.#onReadError = (error) => this.#readFailed(error);
    }
    reader.read(READ_SIZE).then(onData, onReadError);
  }

  /** The watched socket delivered bytes or its end: a waiting _read() reads now. */
  transportEvent(): void {
    if (this.#waiting && !this.destroyed) this._read();
  }

  /** The watched socket closed: a waiting _read() reads now, then the observer is told. */
  transportClose(): void {
    this.transportEvent();
    const observer = this.#closeObserver;
    this.#closeObserver = undefined;
    observer?.transportClosed();
  }

  #unwatch(): void {
    const watched = this.#watched;
    if (watched === undefined) return;
    const own = this.#ownListener;
    if (own === undefined) {
      unobserveWire(watched, this);
      return;
    }
    this.#ownListener = undefined;
    watched.removeListener('data', own);
    watched.removeListener('end', own);
    watched.removeListener('close', this.#ownCloseListener!);
    this.#ownCloseListener = undefined;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    try {
      this.#writer.write(chunk);
    } catch (error) {
      callback(toTransportError(error));
      return;
    }
    this.#afterWrite(callback);
  }

  // Many small send()s of a corked dispatcher (AsyncChat corks per tick) arrive here at once.
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: Callback): void {
    try {
      for (const { chunk } of chunks) this.#writer.write(chunk);
    } catch (error) {
      callback(toTransportError(error));
      return;
    }
    this.#afterWrite(callback);
  }

  // The write is done when the writer is not congested; else once it drained.
  #afterWrite(callback: Callback): void {
    const writer = this.#writer;
    if (writer.bufferedLength < writer.transport.writableHighWaterMark) {
      callback();
      return;
    }
    writer.drain().then(
      () => callback(),
      (error: unknown) => callback(toTransportError(error)),
    );
  }

  override _final(callback: Callback): void {
    // The dispatcher ends its transport to close it: everything it sent has been handed to the
    // writer, whose graceful close (lingering, never truncating) takes over. The writer's close
    // ends the reader, which ends our readable side, and we close.
    this.#writer.close();
    callback();
    // The writer's close ended the reader without an event of the socket.
    if (this.#waiting) this._read();
  }

  override _destroy(error: Error | null, callback: Callback): void {
    this.#waiting = false;
    this.#unwatch();
    const writer = this.#writer;
    if (error === null) writer.close();
    else writer.abort();
    void writer.waitClosed().then(() => callback(error));
  }

  #dataRead(chunk: Buffer): void {
    this.#reading = false;
    if (this.destroyed) return;
    this.push(chunk.length === 0 ? null : chunk);
  }

  #readFailed(error: unknown): void {
    this.#reading = false;
    if (this.destroyed) return;
    // A reset or a lost connection is a close for the dispatcher; anything else (an idle timeout,
    // a server shutdown) reaches its handleError().
    if (error instanceof ConnectionClosedError) {
      if (hasCode(error.cause)) this.destroy(error.cause);
      else this.destroy();
    } else {
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
