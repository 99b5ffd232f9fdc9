// An in-memory, connected pair of Duplex streams with real backpressure: what one end writes, the
// other end reads. A write's callback waits until the peer's reader has room again, so a peer that
// stops reading makes `write()` return false, just like a congested TCP socket.
//
// `destroy(error)` on one end makes the other end fail with `ECONNRESET`-like error (a "reset"),
// and `end()` delivers end-of-stream to the peer (a half-close).
import { Duplex } from 'node:stream';

export interface DuplexPairOptions {
  /** The readable high-water mark of each end, in bytes (default 16 KiB). */
  highWaterMark?: number;
  /** Like `net.Socket`'s option; default false, so an end that reads EOF ends its own writes. */
  allowHalfOpen?: boolean;
}

class PairEnd extends Duplex {
  peer!: PairEnd;
  #pendingWrite: (() => void) | null = null;

  constructor(options: DuplexPairOptions) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.highWaterMark ?? 16 * 1024,
      writableHighWaterMark: options.highWaterMark ?? 16 * 1024,
    });
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error) => void,
  ): void {
    if (this.peer.destroyed) {
      callback(resetError('write'));
      return;
    }
    if (this.peer.push(chunk)) callback();
    else this.peer.#pendingWrite = () => callback();
  }

  override _final(callback: (error?: Error) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _read(): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    pending?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    pending?.();
    if (!peer.destroyed) {
      // The peer sees what a TCP peer sees when the other side vanishes: a reset if this end
      // failed or had not finished writing, an orderly end-of-stream otherwise.
      if (error || !this.writableFinished) peer.destroy(resetError('read'));
      else peer.push(null);
    }
    callback(error);
  }
}

function resetError(syscall: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${syscall} ECONNRESET`);
  error.code = 'ECONNRESET';
  error.syscall = syscall;
  return error;
}

/** Returns two connected in-memory Duplex ends: `[client, server]`. */
export function duplexPair(options: DuplexPairOptions = {}): [Duplex, Duplex] {
  const a = new PairEnd(options);
  const b = new PairEnd(options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
