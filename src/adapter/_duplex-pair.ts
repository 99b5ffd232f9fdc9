// An in-memory, connected pair of Duplex streams with real backpressure (internal): what one end
// writes, the other end reads, and a write's callback waits until the peer's reader has room
// again, so a peer that stops reading makes `write()` return false, like a congested socket.
// Both ends allow half-close (like the server sockets the mixed server accepts). `destroy()` on
// an end that had not finished writing resets the peer (an `ECONNRESET` error), as TCP would.
// The mixed server runs its shadow (and, in shadow mode, its primary) over these.
import { Duplex } from 'node:stream';

class PairEnd extends Duplex {
  peer!: PairEnd;
  #pendingWrite: (() => void) | null = null;

  constructor(highWaterMark: number) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: highWaterMark,
      writableHighWaterMark: highWaterMark,
    });
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error) => void,
  ): void {
    // Bytes for a peer that is gone are discarded (its close already told the story), rather
    // than failing this end, which would destroy what it still has to read.
    if (this.peer.destroyed) {
      callback();
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

/** Two connected in-memory Duplex ends: `[outer, inner]` (symmetric; the names are the roles). */
export function duplexPair(highWaterMark = 16 * 1024): [Duplex, Duplex] {
  const a = new PairEnd(highWaterMark);
  const b = new PairEnd(highWaterMark);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
