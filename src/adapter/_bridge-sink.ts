// The writer's transport of a dispatcher bridge (internal; the base class of DispatcherBridge):
// the part of a Writable that a StreamWriter and a graceful close (closeGracefully()) use,
// implemented over the bridge's send path, in the bridge object itself.
//
// A stream.Duplex here cost ~480 bytes per idle connection (the Duplex, its ReadableState and
// WritableState, their arrays, the bound onwrite, its listener table), more than the rest of the
// bridge; this is an EventEmitter with four fields of its own. What it keeps of Writable:
//
//   write(chunk)        one argument (the writer's and closeGracefully()'s writes); with nothing
//                       queued, handed to sendDirect() (the dispatcher's send()); what it does
//                       not take is the write in progress (startWrite(); the subclass calls
//                       writeDone() or writeFailed() when it is over); later writes queue behind
//                       it. Returns false while writableLength >= writableHighWaterMark.
//   'drain'             once everything queued is written after a write() returned false.
//   end()               after the queued writes, endTransport(); 'finish' on the next tick.
//   destroy(error?)     destroyTransport(); its transportClosed() emits 'error' (with an error)
//                       and 'close' on the next tick. After 'finish', a stream whose graceful
//                       close is lingering (its readable side consumed) destroys itself, as a
//                       Duplex with autoDestroy does.
//   readableEnded       its readable side has no bytes, ever: ended once a graceful close reads
//                       it (closeGracefully() resumes it); before that a finish (a half-close,
//                       writeEof()) leaves the connection open.
//
// No private methods (a brand per instance): the steps are static.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { isLingering } from '../_core/linger.js';
import { Fifo } from '../legacy/_fifo.js';

// #state bits.
const ENDING = 1;
const FINISHED = 2;
const DESTROYED = 4;
const CLOSED = 8;
const NEED_DRAIN = 16;
// Inside settle(): a write completed synchronously by startWrite() does not settle again.
const SETTLING = 32;
// endTransport() was called.
const FINAL = 64;

type Chunk = Uint8Array;

export abstract class BridgeSink extends EventEmitter {
  /** Bytes queued before write() returns false (the writer's high-water mark). */
  readonly writableHighWaterMark: number;
  #state = 0;
  // Bytes given to write() and not written yet: the write in progress and the queued ones.
  #length = 0;
  // The length of the write in progress (0: none).
  #writing = 0;
  // The writes behind the one in progress, oldest first (made by the first one that waits; a
  // ring, as a handler that writes every tick without draining can queue thousands).
  #queue: Fifo<Chunk> | null = null;

  constructor(highWaterMark: number) {
    super();
    // A listener table of one fixed shape, as Node's streams make theirs: EventEmitter's own
    // (`{ __proto__: null }`) is a dictionary, ~280 bytes with the writer's four listeners.
    (this as unknown as { _events: object })._events = {
      close: undefined,
      error: undefined,
      drain: undefined,
      finish: undefined,
      data: undefined,
      end: undefined,
    };
    this.writableHighWaterMark = highWaterMark;
  }

  /** The subclass's direct send: how many bytes of `chunk` are done with (0: none). */
  protected abstract sendDirect(chunk: Chunk): number;
  /** Starts the write of `chunk`; its end is told with writeDone() or writeFailed(). */
  protected abstract startWrite(chunk: Chunk): void;
  /** Every write is done and end() was called: send end-of-stream. */
  protected abstract endTransport(): void;
  /** destroy() was called: release the transport, then call transportClosed(). */
  protected abstract destroyTransport(error: Error | null): void;

  get writableLength(): number {
    return this.#length;
  }

  get writableNeedDrain(): boolean {
    return (this.#state & (NEED_DRAIN | DESTROYED | ENDING)) === NEED_DRAIN;
  }

  get writableEnded(): boolean {
    return (this.#state & ENDING) !== 0;
  }

  get writableFinished(): boolean {
    return (this.#state & FINISHED) !== 0;
  }

  get writableCorked(): number {
    return 0;
  }

  get destroyed(): boolean {
    return (this.#state & DESTROYED) !== 0;
  }

  get closed(): boolean {
    return (this.#state & CLOSED) !== 0;
  }

  /** The readable side (never any bytes) ends when a graceful close consumes it. */
  get readableEnded(): boolean {
    return isLingering(this as unknown as Duplex);
  }

  /** Writes `chunk` (see the header); false while the queue is at the high-water mark. */
  write(chunk: Chunk): boolean {
    if ((this.#state & (ENDING | DESTROYED)) !== 0) return false;
    if (chunk.length === 0) return this.#length < this.writableHighWaterMark;
    if (this.#length === 0) {
      const done = this.sendDirect(chunk);
      if (done === chunk.length) return true;
      const rest = done > 0 ? chunk.subarray(done) : chunk;
      this.#length = rest.length;
      this.#writing = rest.length;
      this.#state |= SETTLING;
      try {
        this.startWrite(rest);
      } finally {
        this.#state &= ~SETTLING;
      }
      BridgeSink.#settle(this);
    } else {
      (this.#queue ??= new Fifo<Chunk>()).push(chunk);
      this.#length += chunk.length;
    }
    // Destroyed by the write (the connection was gone): nothing more is taken.
    if ((this.#state & DESTROYED) !== 0) return false;
    if (this.#length < this.writableHighWaterMark) return true;
    this.#state |= NEED_DRAIN;
    return false;
  }

  /** Ends the write side once the queued writes are done ('finish' follows). */
  end(): this {
    if ((this.#state & (ENDING | DESTROYED)) !== 0) return this;
    this.#state |= ENDING;
    if (this.#length === 0) BridgeSink.#final(this);
    return this;
  }

  /** Drops what is queued and releases the transport ('close' follows, after 'error' if any). */
  destroy(error?: Error | null): this {
    if ((this.#state & DESTROYED) !== 0) return this;
    this.#state = (this.#state | DESTROYED) & ~NEED_DRAIN;
    this.#queue = null;
    this.#length = 0;
    this.#writing = 0;
    this.destroyTransport(error ?? null);
    return this;
  }

  /** The write in progress is over. */
  protected writeDone(): void {
    if ((this.#state & DESTROYED) !== 0) return;
    this.#length -= this.#writing;
    this.#writing = 0;
    BridgeSink.#settle(this);
  }

  /** The write in progress failed: the stream is destroyed with `error`. */
  protected writeFailed(error: Error): void {
    this.destroy(error);
  }

  /** The transport is released (after destroyTransport()): 'error' and 'close' next tick. */
  protected transportClosed(error: Error | null): void {
    if ((this.#state & CLOSED) !== 0) return;
    this.#state |= CLOSED;
    process.nextTick(emitClose, this, error);
  }

  // After a write ended: start the queued ones while they complete at once; once nothing is
  // left, 'drain' (if a write() returned false) and the end (if end() was called).
  static #settle(sink: BridgeSink): void {
    if ((sink.#state & SETTLING) !== 0) return;
    sink.#state |= SETTLING;
    try {
      const queue = sink.#queue;
      while (sink.#writing === 0 && queue !== null && queue.length > 0) {
        if ((sink.#state & DESTROYED) !== 0) return;
        const chunk = queue.shift()!;
        sink.#writing = chunk.length;
        sink.startWrite(chunk);
        // startWrite() may have completed it (writeDone() without a settle) or destroyed it.
      }
    } finally {
      sink.#state &= ~SETTLING;
    }
    if (sink.#length !== 0 || (sink.#state & DESTROYED) !== 0) return;
    if ((sink.#state & NEED_DRAIN) !== 0) {
      sink.#state &= ~NEED_DRAIN;
      sink.emit('drain');
    }
    if ((sink.#state & ENDING) !== 0) BridgeSink.#final(sink);
  }

  static #final(sink: BridgeSink): void {
    if ((sink.#state & (FINAL | DESTROYED)) !== 0) return;
    sink.#state |= FINAL;
    sink.endTransport();
    process.nextTick(BridgeSink.#finish, sink);
  }

  static #finish(sink: BridgeSink): void {
    if ((sink.#state & (FINISHED | DESTROYED)) !== 0) return;
    sink.#state |= FINISHED;
    sink.emit('finish');
    // autoDestroy: both sides are done once a graceful close has consumed the readable one.
    if (sink.readableEnded) sink.destroy();
  }
}

function emitClose(sink: BridgeSink, error: Error | null): void {
  if (error !== null && sink.listenerCount('error') > 0) sink.emit('error', error);
  sink.emit('close');
}
