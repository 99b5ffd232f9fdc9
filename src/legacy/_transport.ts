// The connection side of a Dispatcher (internal): what the dispatcher knows about its Duplex
// (buffered bytes, end-of-stream, failure, connect), and its release on close() through the one
// graceful lingering close of src/_core/linger.ts.
//
//   attach       listeners on the Duplex; every event only records and wakes the loop
//   read()       the bytes received and not yet read: the Duplex flows into the transport's own
//                queue (Node's 'data' path, with no read() or nextTick per chunk, unlike paused
//                mode), paused at the Duplex's readableHighWaterMark until read() makes room;
//                bytes the Duplex still held when it failed are rescued into the queue
//   release()    flush what the dispatcher still queues, then closeGracefully(): everything sent
//                arrives, unread input is discarded, the socket is destroyed within lingerTimeout
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { closeGracefully, DEFAULT_LINGER_TIMEOUT } from '../_core/linger.js';
import { restoreNodeEnd, runNodeEnd, takeNodeEnd } from '../_core/node-end.js';
import { Fifo } from './_fifo.js';

export type ConnectEvent = 'connect' | 'secureConnect';

const ignore = (): void => {};

/** The owner's method a Transport calls when its Duplex has news (a symbol: not a user's name). */
export const kTransportWake: unique symbol = Symbol('dispatch-bridge.transportWake');

/** What a Transport wakes when its Duplex has news: the dispatcher, through its map. */
export interface TransportOwner {
  /** Ask the owner's predicates in the next round (and wake a waiting loop). */
  [kTransportWake](): void;
}

// The Transport of a Duplex, on the Duplex itself: the listeners below are shared by every
// transport (no closures per connection, DESIGN's bytes per idle connection), and find theirs
// through `this`, the emitter.
const kTransport: unique symbol = Symbol('dispatch-bridge.transport');
interface Tagged {
  [kTransport]?: Transport | undefined;
}
const transportOf = (emitter: unknown): Transport | undefined => (emitter as Tagged)[kTransport];

// What a Transport knows about its Duplex: independent facts, one bit each of one number (an
// idle connection holds one field, not nine).
const enum Fact {
  // The connect (or TLS secureConnect) event arrived.
  ConnectDone = 1,
  // 'end' was seen: end-of-stream after the bytes queued.
  Eof = 2,
  // The Duplex emitted 'close', or was already closed when we got it.
  Closed = 4,
  // The Duplex failed or closed.
  Failed = 8,
  // The Duplex is paused because the queue reached its readableHighWaterMark.
  Paused = 16,
  // How the bytes come: flowing into the queue (a Duplex that allows half-open, as our
  // listeners' and connect()'s sockets do), or left in the Duplex's own buffer in paused mode
  // (one that ends its writable side at end-of-stream: in flowing mode its end would come as
  // soon as the bytes are queued, before the handlers read them and answer; paused, only once
  // they are read, as a kernel socket's FIN comes after the bytes before it).
  Flowing = 32,
  // release() ran.
  Released = 64,
  // The Duplex emitted 'close' while ours.
  CloseEmitted = 128,
  // Which connect event we listen to, if any.
  OnConnect = 256,
  OnSecureConnect = 512,
  // Our 'end' listener stands for Node's own (see _core/node-end.ts).
  NodeEnd = 1024,
}

function onData(this: Duplex, chunk: Buffer | string): void {
  transportOf(this)?.onData(chunk);
}
function onReadable(this: Duplex): void {
  transportOf(this)?.onReadable();
}
function onEnd(this: Duplex): void {
  transportOf(this)?.onEnd();
}
function onWake(this: Duplex): void {
  transportOf(this)?.owner[kTransportWake]();
}
function onConnect(this: Duplex): void {
  transportOf(this)?.onConnect();
}
function onError(this: Duplex, error: unknown): void {
  transportOf(this)?.onError(error);
}
function onClose(this: Duplex): void {
  transportOf(this)?.onClose();
}

/** One attached Duplex and the facts the dispatch path asks about it. */
export class Transport {
  readonly socket: Duplex;
  readonly owner: TransportOwner;
  #facts = 0;
  // The first error the Duplex emitted (later ones are noise), until takeError() took it.
  #error: { value: unknown } | null = null;
  // The bytes received and not yet read, oldest first (null until the first ones: an idle
  // connection holds no queue), and their total.
  #queue: Fifo<Buffer> | null = null;
  #queued = 0;

  constructor(socket: Duplex, connectEvent: ConnectEvent | null, owner: TransportOwner) {
    this.socket = socket;
    this.owner = owner;
    (socket as Tagged)[kTransport] = this;
    socket.on('error', onError);
    socket.on('close', onClose);
    if (takeNodeEnd(socket)) this.#facts |= Fact.NodeEnd;
    socket.on('end', onEnd);
    socket.on('drain', onWake);
    if (connectEvent !== null) {
      socket.on(connectEvent, onConnect);
      this.#facts |= connectEvent === 'connect' ? Fact.OnConnect : Fact.OnSecureConnect;
    }
    if (socket.allowHalfOpen) {
      this.#facts |= Fact.Flowing;
      // resume() too, for a Duplex its previous owner paused (the mixed server's sniffing, a
      // PROXY header's reader): what they left buffered flows first.
      socket.on('data', onData);
      socket.resume();
    } else {
      // Paused mode: the 'readable' listener makes Node buffer up to the high-water mark and stop.
      socket.on('readable', onReadable);
    }
    // A socket that closed before we got it (e.g. reset while waiting in the accept queue).
    if (socket.destroyed && socket.closed) this.#facts |= Fact.Closed | Fact.Failed;
  }

  /** The connect (or TLS secureConnect) event arrived. */
  get connectDone(): boolean {
    return (this.#facts & Fact.ConnectDone) !== 0;
  }

  /** Bytes ready for `read()`. */
  get readableLength(): number {
    const socket = this.socket;
    return (this.#facts & Fact.Flowing) !== 0 || socket.destroyed
      ? this.#queued
      : this.#queued + socket.readableLength;
  }

  /** End-of-stream, a close or a failure: once the buffered bytes are read, nothing follows. */
  get ended(): boolean {
    return (this.#facts & (Fact.Eof | Fact.Closed)) !== 0 || this.socket.destroyed;
  }

  /** The Duplex is gone (closed or destroyed): writes can no longer reach the peer. */
  get gone(): boolean {
    const socket = this.socket;
    return (this.#facts & Fact.Closed) !== 0 || socket.destroyed || socket.writableEnded;
  }

  /** The Duplex failed or closed: a close is due whatever the predicates say. */
  get failed(): boolean {
    return (this.#facts & Fact.Failed) !== 0;
  }

  /** The Duplex's first error, once (null when there is none, or it was taken). */
  takeError(): { value: unknown } | null {
    const error = this.#error;
    this.#error = null;
    return error;
  }

  /** Up to `size` buffered bytes (several chunks joined when the first is shorter), or null. */
  read(size: number): Buffer | null {
    const queue = this.#queue;
    if (queue === null || this.#queued === 0) {
      return (this.#facts & Fact.Flowing) !== 0 ? null : Transport.#readPaused(this, size);
    }
    const first = queue.first() as Buffer;
    let chunk: Buffer;
    if (first.length > size) {
      queue.setFirst(first.subarray(size));
      chunk = first.subarray(0, size);
    } else if (first.length === size || queue.length === 1) {
      queue.shift();
      chunk = first;
    } else {
      chunk = Transport.#join(this, size);
    }
    this.#queued -= chunk.length;
    if ((this.#facts & Fact.Paused) !== 0 && this.#queued < this.socket.readableHighWaterMark) {
      this.#facts &= ~Fact.Paused;
      this.socket.resume();
    }
    return chunk;
  }

  static #enqueue(t: Transport, chunk: Buffer | string): boolean {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.length === 0) return false;
    (t.#queue ??= new Fifo<Buffer>()).push(bytes);
    t.#queued += bytes.length;
    return true;
  }

  // Paused mode: from the Duplex's own buffer.
  static #readPaused(t: Transport, size: number): Buffer | null {
    const socket = t.socket;
    const available = socket.destroyed ? 0 : socket.readableLength;
    if (available === 0) return null;
    const chunk = socket.read(available < size ? available : size) as Buffer | null;
    // Reading the buffer empty does not surface a pending end-of-stream; read(0) does.
    if (socket.readableLength === 0) socket.read(0);
    return chunk;
  }

  // The chunks at the head of the queue joined into one Buffer of min(size, queued) bytes.
  static #join(t: Transport, size: number): Buffer {
    const queue = t.#queue as Fifo<Buffer>;
    const total = Math.min(size, t.#queued);
    const joined = Buffer.allocUnsafe(total);
    let offset = 0;
    while (offset < total) {
      const next = queue.first() as Buffer;
      const take = Math.min(next.length, total - offset);
      next.copy(joined, offset, 0, take);
      offset += take;
      if (take === next.length) queue.shift();
      else queue.setFirst(next.subarray(take));
    }
    return joined;
  }

  /**
   * Writes what the Duplex takes without going over its `writableHighWaterMark` (the kernel send
   * buffer a non-blocking send() fills): how many bytes of `bytes` it took, 0 when congested.
   */
  write(bytes: Buffer): number {
    const socket = this.socket;
    if (socket.writableNeedDrain || bytes.length === 0) return 0;
    const room = socket.writableHighWaterMark - socket.writableLength;
    if (room <= 0) return 0;
    if (bytes.length <= room) {
      socket.write(bytes);
      return bytes.length;
    }
    socket.write(bytes.subarray(0, room));
    return room;
  }

  /**
   * Let go of the Duplex: remove our listeners, send what `takeOutput` still yields (as the
   * Duplex drains), then close it gracefully within `lingerTimeout`. Idempotent.
   */
  release(lingerTimeout: number | undefined, takeOutput: () => Buffer | null): void {
    if ((this.#facts & Fact.Released) !== 0) return;
    this.#facts |= Fact.Released;
    const socket = this.socket;
    // Errors of a socket we are only closing are not news for anyone: one listener of ours stays
    // until 'close' (a destroyed Duplex may still emit its 'error'), closeGracefully adds its own.
    if ((this.#facts & Fact.CloseEmitted) === 0) {
      socket.on('error', ignore);
      socket.once('close', () => socket.removeListener('error', ignore));
    }
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    socket.removeListener('end', onEnd);
    if ((this.#facts & Fact.NodeEnd) !== 0) restoreNodeEnd(socket);
    socket.removeListener('drain', onWake);
    socket.removeListener('data', onData);
    socket.removeListener('readable', onReadable);
    if ((this.#facts & Fact.OnConnect) !== 0) socket.removeListener('connect', onConnect);
    if ((this.#facts & Fact.OnSecureConnect) !== 0)
      socket.removeListener('secureConnect', onConnect);
    // Assigned, not deleted: the socket keeps its shape; the dispatcher is no longer reachable.
    (socket as Tagged)[kTransport] = undefined;
    this.#queue = null;
    this.#queued = 0;
    if (socket.destroyed) return;
    const options = { lingerTimeout: lingerTimeout ?? DEFAULT_LINGER_TIMEOUT };
    // Lingering is for kernel sockets (unread input turns their close into a reset). Any other
    // Duplex (in memory, a modern connection's streams) is done once its writes finished: it is
    // destroyed then, as it hands its bytes on by itself; the linger timeout still bounds it.
    if (!(socket instanceof net.Socket)) {
      if (socket.writableFinished) {
        socket.destroy();
        return;
      }
      const onFinish = (): void => {
        socket.destroy();
      };
      socket.once('finish', onFinish);
      socket.once('close', () => socket.removeListener('finish', onFinish));
    }
    // What the dispatcher still queues (DispatcherWithSend, AsyncChat) goes out first.
    closeGracefully(socket, { ...options, more: takeOutput });
  }

  // ---- the Duplex's events (through the shared listeners above) ----------------------------

  /** @internal 'data': queue the bytes; pause the Duplex once the queue is full. */
  onData(chunk: Buffer | string): void {
    if (!Transport.#enqueue(this, chunk)) return;
    const socket = this.socket;
    if ((this.#facts & Fact.Paused) === 0 && this.#queued >= socket.readableHighWaterMark) {
      // Backpressure: Node buffers up to its own high-water mark, then stops reading.
      this.#facts |= Fact.Paused;
      socket.pause();
    }
    this.owner[kTransportWake]();
  }

  /** @internal Paused mode's 'readable': bytes, or end-of-stream. */
  onReadable(): void {
    const socket = this.socket;
    // At end-of-stream with nothing buffered, read(0) makes the stream emit 'end'.
    if (socket.readableLength === 0) socket.read(0);
    this.owner[kTransportWake]();
  }

  /** @internal */
  onEnd(): void {
    if ((this.#facts & Fact.NodeEnd) !== 0) runNodeEnd(this.socket);
    this.#facts |= Fact.Eof;
    this.owner[kTransportWake]();
  }

  /** @internal */
  onConnect(): void {
    this.#facts |= Fact.ConnectDone;
    this.owner[kTransportWake]();
  }

  /** @internal */
  onError(error: unknown): void {
    Transport.#rescue(this);
    if ((this.#facts & Fact.Failed) === 0) this.#error = { value: error };
    this.#facts |= Fact.Failed;
    this.owner[kTransportWake]();
  }

  /** @internal */
  onClose(): void {
    this.#facts |= Fact.CloseEmitted;
    Transport.#rescue(this);
    this.#facts |= Fact.Closed | Fact.Failed;
    this.owner[kTransportWake]();
  }

  // A Duplex that fails may still hold what it received (paused, by us or in paused mode): take
  // it out before it is gone, so that handleRead() gets it before the close (asyncore on Linux
  // does). read() emits 'data' for what it returns unless the Duplex already reported its error
  // or close: queued once either way.
  static #rescue(t: Transport): void {
    const socket = t.socket;
    while (socket.readableLength > 0) {
      const before = t.#queued;
      const chunk = socket.read() as Buffer | string | null;
      if (chunk === null) break;
      if (t.#queued === before) Transport.#enqueue(t, chunk);
    }
  }
}

// asyncore's _DISCONNECTED, plus what Node reports for the same conditions: these are a close,
// never an error.
const DISCONNECTED = new Set([
  'ECONNRESET',
  'ENOTCONN',
  'ESHUTDOWN',
  'ECONNABORTED',
  'EPIPE',
  'EBADF',
  'ETIMEDOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
]);

/** Whether `error` means the peer went away (a close), not a failure (an error). */
export function isDisconnect(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  return typeof error.code === 'string' && DISCONNECTED.has(error.code);
}
