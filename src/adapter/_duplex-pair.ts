// An in-memory, connected pair of Duplex streams with real backpressure (internal): what one end
// writes, the other end reads, and a write's callback waits until the peer's reader has room
// again, so a peer that stops reading makes `write()` return false, like a congested socket.
// `end()` delivers end-of-stream to the peer (a half-close); `destroy()` on an end that failed or
// had not finished writing resets the peer (an `ECONNRESET` error), as TCP would, and an orderly
// end-of-stream otherwise. The mixed server runs its shadow (and, in shadow mode, its primary)
// over these; the tests use them as sockets (test/helpers/duplex-pair.ts).
import { Duplex } from 'node:stream';

/** Options of {@link duplexPair}. */
export interface DuplexPairOptions {
  /** The high-water mark of each end, both sides, in bytes (default 16 KiB). */
  highWaterMark?: number | undefined;
  /** Like `net.Socket`'s option: when false, an end that reads EOF ends its own writes. */
  allowHalfOpen?: boolean | undefined;
  /**
   * What a write to a peer that is gone does: `'reset'` fails it with `ECONNRESET` (a socket);
   * `'discard'` drops the bytes and succeeds, so the writing end keeps what it still has to read.
   */
  writeToGonePeer?: 'reset' | 'discard' | undefined;
}

class PairEnd extends Duplex {
  peer!: PairEnd;
  readonly #discardToGonePeer: boolean;
  #pendingWrite: (() => void) | null = null;

  constructor(options: DuplexPairOptions) {
    const highWaterMark = options.highWaterMark ?? 16 * 1024;
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: highWaterMark,
      writableHighWaterMark: highWaterMark,
    });
    this.#discardToGonePeer = options.writeToGonePeer === 'discard';
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error) => void,
  ): void {
    if (this.peer.destroyed) {
      callback(this.#discardToGonePeer ? undefined : resetError('write'));
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
      if (error || !this.writableFinished) peer.destroy(resetError('read'));
      else if (!peer.readableEnded) peer.push(null);
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

/** Two connected in-memory Duplex ends (symmetric: the names callers give them are roles). */
export function duplexPair(options: DuplexPairOptions = {}): [Duplex, Duplex] {
  const a = new PairEnd(options);
  const b = new PairEnd(options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
