// The protocol adapter between a legacy Dispatcher and a StreamReader/StreamWriter pair: the job of
// asyncio's StreamReaderProtocol, done with the legacy callbacks (internal; used by toStreams() and
// asDispatcherClass()).
//
// It sits on the dispatcher's internal delegate (`dispatcher[kDelegate]`, src/legacy/_internal.ts):
// nothing on the dispatcher instance is replaced, and every call comes through the dispatcher's
// one dispatch path (never after close, inside loop(), exceptions to handleError()).
//
//   handleRead() -> recv()            reader.feedData(bytes), while the reader is not paused
//   recv() at end-of-stream           reader.feedEof(); the dispatcher stays open (half-close)
//   the dispatcher closed (any way)   reader.feedEof() (or ConnectionClosedError after a reset);
//                                     the writer's transport closes
//   handleError(error)                reader.setException(error); the dispatcher's own handleError
//   readable()                        false while the reader holds more than 2 x limit bytes
//   writable() / handleWrite()        send what the transport did not take (partial sends)
//   writer.close() / abort()          the dispatcher closes in the next round (kRequestClose)
//   raise(error)                      handleError(error) in the next round (kRaise)
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { kDelegate, kRaise, kRequestClose, type DispatcherDelegate } from '../legacy/_internal.js';
import { Dispatcher } from '../legacy/dispatcher.js';
import { DispatcherWithSend } from '../legacy/dispatcher-with-send.js';
import { ConnectionClosedError } from '../modern/errors.js';
import { StreamReader } from '../modern/reader.js';
import { StreamWriter, type ExtraInfoName } from '../modern/writer.js';
import { transportInfo } from '../modern/_extra-info.js';
import { InvalidArgumentError, InvalidStateError, OutOfRangeError } from '../errors.js';
import type { LazyController } from './_lazy-controller.js';

/** Options shared by toStreams() and asDispatcherClass(). */
export interface BridgeOptions {
  /** The reader's buffer limit (default 65536); above 2 x limit, `readable()` turns false. */
  limit?: number | undefined;
  /** Bytes the writer may queue before `drain()` waits (default 65536). */
  highWaterMark?: number | undefined;
}

type Callback = (error?: Error | null) => void;

const RECV_SIZE = 65536;

function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'Function' : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  return `\`${shown}\` (${value === null ? 'null' : typeof value})`;
}

/** Throws unless `value` is undefined or a positive integer. */
export function checkOptionalPositiveInteger(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    const Kind = typeof value === 'number' ? OutOfRangeError : InvalidArgumentError;
    throw new Kind(`Expected \`${name}\` to be a positive integer, got ${describe(value)}`);
  }
}

/**
 * `getExtraInfo()` of a real socket (for a Duplex that is not a socket: undefined); addresses by
 * the core address rule (an IPv4 peer of a dual-stack listener is plain IPv4).
 */
export function socketInfo(socket: Duplex | null, name: ExtraInfoName): unknown {
  if (name === 'socket') return socket ?? undefined;
  if (!(socket instanceof net.Socket)) return undefined;
  const value = transportInfo(socket, name);
  // A socket's own address only when it has a port (not a Unix socket's path).
  return name === 'sockname' && !(typeof value === 'object' && value !== null && 'port' in value)
    ? undefined
    : value;
}

// The writer's transport: a Duplex whose writes go through the dispatcher's send(). Only the
// writable side is used. Its writableHighWaterMark is the writer's high-water mark.
class DispatcherSink extends Duplex {
  readonly #bridge: DispatcherBridge;

  constructor(bridge: DispatcherBridge, highWaterMark: number) {
    super({ allowHalfOpen: true, writableHighWaterMark: highWaterMark });
    this.#bridge = bridge;
    // The readable side is never used: ended from the start, so that a graceful close (which
    // waits for both sides to end) is over once the writes are done.
    this.push(null);
  }

  override _read(): void {}

  // The writer's one-argument write of a Buffer with nothing queued before it goes straight to
  // the dispatcher's send(): no Writable bookkeeping and no after-write tick per message. Any
  // other write (a callback or an encoding, behind a partial send, after end(), as big as the
  // high-water mark) takes Writable's path, so writableLength, 'drain' and end() keep their
  // meaning.
  override write(
    chunk: unknown,
    encoding?: BufferEncoding | Callback,
    callback?: Callback,
  ): boolean {
    if (
      encoding === undefined &&
      chunk instanceof Buffer &&
      chunk.length < this.writableHighWaterMark &&
      this.writableLength === 0 &&
      !this.writableEnded &&
      !this.destroyed &&
      this.writableCorked === 0
    ) {
      const sent = this.#bridge.sendNow(chunk);
      if (sent === chunk.length) return true;
      // Partly sent: the rest is an ordinary write, waiting for the socket as before.
      if (sent > 0) return super.write(chunk.subarray(sent));
    }
    return typeof encoding === 'function'
      ? super.write(chunk, encoding)
      : super.write(chunk, encoding as BufferEncoding, callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.#bridge.sinkWrite(chunk, callback);
  }

  override _final(callback: Callback): void {
    this.#bridge.sinkFinal(callback);
  }

  override _destroy(error: Error | null, callback: Callback): void {
    this.#bridge.sinkDestroy(error, callback);
  }
}

// A StreamWriter that answers getExtraInfo() from the dispatcher's real socket.
class DispatcherWriter extends StreamWriter {
  readonly #dispatcher: Dispatcher;

  constructor(sink: Duplex, dispatcher: Dispatcher) {
    super(sink);
    this.#dispatcher = dispatcher;
  }

  override canWriteEof(): boolean {
    return !(this.#dispatcher.socket instanceof tls.TLSSocket);
  }

  override getExtraInfo(name: ExtraInfoName): unknown {
    return socketInfo(this.#dispatcher.socket, name);
  }
}

/**
 * Takes over the read/write side of one dispatcher through its internal delegate (its class's
 * `handleConnect()`, `handleClose()` and `handleError()` still run, and nothing on the instance
 * is replaced) and exposes the connection as a reader and a writer.
 *
 * The bridge is the delegate itself (its methods on the prototype, not seven closures per
 * connection): only the dispatcher's dispatch path calls them.
 */
export class DispatcherBridge implements DispatcherDelegate {
  readonly reader: StreamReader;
  readonly writer: StreamWriter;
  readonly #dispatcher: Dispatcher;
  readonly #sink: DispatcherSink;
  // Aborted once, when the connection is gone (after the reader got its end-of-stream or error).
  readonly #lost: LazyController | undefined;
  // The reader got its end-of-stream or error: nothing more is read.
  #eofFed = false;
  // Bytes of the current sink write that send() has not taken yet (EMPTY: all taken, waiting for
  // a DispatcherWithSend's out buffer to drain), and the write's callback.
  #pending: Buffer | null = null;
  #pendingCallback: Callback | null = null;
  // The sink's end() waits for #pending to be sent.
  #finalCallback: Callback | null = null;
  #lostDone = false;
  // Not a DispatcherWithSend (whose send() takes everything, its out buffer the backlog): the
  // sink may hand a write to send() directly (DispatcherSink.write()).
  readonly #direct: boolean;

  constructor(dispatcher: Dispatcher, options: BridgeOptions = {}, lost?: LazyController) {
    if (!(dispatcher instanceof Dispatcher)) {
      throw new InvalidArgumentError(
        `Expected \`dispatcher\` to be a Dispatcher, got ${describe(dispatcher)}`,
      );
    }
    checkOptionalPositiveInteger('limit', options.limit);
    checkOptionalPositiveInteger('highWaterMark', options.highWaterMark);
    if (dispatcher.closed) throw new InvalidStateError('Cannot adapt the dispatcher: it is closed');
    if (dispatcher.accepting) {
      throw new InvalidStateError('Cannot adapt the dispatcher: it is listening, not connected');
    }
    if (dispatcher.socket === null) {
      throw new InvalidStateError(
        'Cannot adapt the dispatcher: it has no socket (connect() or pass a socket)',
      );
    }
    // A dispatcher already taken over has its delegate: a second bridge would fight the first
    // for the same bytes.
    if (dispatcher[kDelegate] !== null) {
      throw new InvalidStateError('Cannot adapt the dispatcher: it is already adapted to streams');
    }
    this.#dispatcher = dispatcher;
    this.#direct = !(dispatcher instanceof DispatcherWithSend);
    this.#lost = lost;
    this.reader = new StreamReader({ limit: options.limit });
    // The bridge is the reader's flow-control hooks (its resume() on the prototype): no options
    // object, closure or context kept per connection.
    this.reader.setTransport(this);
    this.#sink = new DispatcherSink(this, options.highWaterMark ?? 65536);
    this.writer = new DispatcherWriter(this.#sink, dispatcher);
    dispatcher[kDelegate] = this;
  }

  /**
   * Deliver `error` to the dispatcher's `handleError()` in its next loop round, whatever its
   * socket is doing (congested, no input). Only the first error before that round counts; after
   * close() it does nothing.
   */
  raise(error: unknown): void {
    this.#dispatcher[kRaise](error);
  }

  /**
   * The reader's `resume()` hook: readable() looks at `reader.paused`, so a resume makes a
   * waiting loop look again.
   */
  resume(): void {
    this.#dispatcher.wake();
  }

  // ---- the dispatcher's side (its delegate: called only from its dispatch path) ---------------

  /** The dispatcher's `readable()`. */
  readable(): boolean {
    const socket = this.#dispatcher.socket;
    if (socket === null) return false;
    // A transport that is gone must reach recv() so that the close is seen, paused or not.
    if (socket.destroyed) return true;
    return !this.#eofFed && !this.reader.paused;
  }

  /** The dispatcher's `writable()`: a partial send is waiting. */
  writable(): boolean {
    return this.#pending !== null;
  }

  /** The dispatcher's `handleRead()`. */
  handleRead(): void {
    const dispatcher = this.#dispatcher;
    const reader = this.reader;
    while (!this.#eofFed && !reader.paused) {
      const data = dispatcher.recv(RECV_SIZE);
      if (data.length === 0) break;
      reader.feedData(data);
    }
  }

  /** The dispatcher's `handleWrite()`. */
  handleWrite(): void {
    const dispatcher = this.#dispatcher;
    if (dispatcher instanceof DispatcherWithSend) dispatcher.initiateSend();
    const pending = this.#pending;
    if (pending !== null && pending.length > 0) {
      const sent = dispatcher.send(pending);
      // send() may have closed the dispatcher (and so dropped #pending).
      if (this.#pending === null) return;
      this.#pending = pending.subarray(sent);
      if (sent < pending.length) return;
    }
    this.#settleWrite();
  }

  /**
   * recv() saw end-of-stream: with the transport still open it is a half-close (the reader ends,
   * the writer goes on); a transport that is gone is the close.
   */
  eof(): boolean {
    const socket = this.#dispatcher.socket;
    if (socket === null || socket.destroyed) return false;
    if (!this.#eofFed) {
      this.#eofFed = true;
      this.reader.feedEof();
    }
    return true;
  }

  /** An error on its way to the class's `handleError()` (`handle`). */
  error(error: unknown, handle: () => void): void {
    this.#eofFed = true;
    this.reader.setException(error);
    try {
      handle();
    } finally {
      // The reader has failed for good: whatever the class's handleError() did, the connection
      // is of no more use.
      this.#dispatcher.close();
      this.closed();
    }
  }

  /**
   * The dispatcher closed; the connection is gone: the reader ends (or fails after a reset), the
   * writer's transport closes. Idempotent.
   */
  closed(): void {
    if (this.#lostDone) return;
    this.#lostDone = true;
    if (!this.#eofFed) {
      this.#eofFed = true;
      const errored = this.#dispatcher.socket?.errored;
      if (errored) {
        this.reader.setException(new ConnectionClosedError('Connection lost', { cause: errored }));
      } else {
        this.reader.feedEof();
      }
    }
    this.#pending = null;
    this.#pendingCallback = null;
    if (!this.#sink.destroyed) this.#sink.destroy();
    const lost = this.#lost;
    if (lost !== undefined && !lost.aborted)
      lost.abort(new ConnectionClosedError('Connection closed'));
  }

  // ---- the writer's side (DispatcherSink) -----------------------------------------------------

  /**
   * The sink's direct write: how many bytes of `chunk` are done with (all of it when send() took
   * it whole, or the connection is gone and it is dropped; 0 when it must take the sink's queued
   * path: nothing was sent, a write is pending, or a DispatcherWithSend buffers its sends).
   */
  sendNow(chunk: Buffer): number {
    const dispatcher = this.#dispatcher;
    if (!this.#direct || dispatcher.closed || this.#pending !== null) return 0;
    const sent = dispatcher.send(chunk);
    return dispatcher.closed ? chunk.length : sent;
  }

  sinkWrite(chunk: Buffer, callback: Callback): void {
    const dispatcher = this.#dispatcher;
    if (dispatcher.closed) {
      callback(new ConnectionClosedError('Cannot write: the dispatcher is closed'));
      return;
    }
    const sent = dispatcher.send(chunk);
    if (dispatcher.closed) return; // the connection is gone; the sink is destroyed
    if (sent === chunk.length && !this.#backlogged()) {
      callback();
      return;
    }
    this.#pending = chunk.subarray(sent);
    this.#pendingCallback = callback;
    dispatcher.wake();
  }

  sinkFinal(callback: Callback): void {
    this.#finalCallback = callback;
    if (this.#pending === null) this.#finish();
  }

  sinkDestroy(error: Error | null, callback: Callback): void {
    this.#pending = null;
    this.#pendingCallback = null;
    this.#finalCallback = null;
    const dispatcher = this.#dispatcher;
    const socket = dispatcher.socket;
    if (!dispatcher.closed) {
      // writer.close() ends the sink first (graceful); writer.abort() destroys it at once. The
      // dispatcher closes (and its handleClose() runs) in its next round, inside loop().
      if (error !== null || !this.#sink.writableFinished) socket?.destroy();
      dispatcher[kRequestClose]();
    }
    // Closed (for waitClosed()) once the dispatcher has closed and its transport is released.
    const settle = (): void => {
      if (socket === null || socket.closed) callback(error);
      else socket.once('close', () => callback(error));
    };
    if (dispatcher.closed) settle();
    else dispatcher.once('close', settle);
  }

  // DispatcherWithSend's send() takes everything and buffers what the transport did not: its
  // out buffer is then our backlog, so that drain() still waits for the socket.
  #backlogged(): boolean {
    const dispatcher = this.#dispatcher;
    return dispatcher instanceof DispatcherWithSend && dispatcher.outBufferLength > 0;
  }

  #settleWrite(): void {
    if (this.#pending === null || this.#backlogged()) return;
    const callback = this.#pendingCallback;
    this.#pending = null;
    this.#pendingCallback = null;
    callback?.();
    if (this.#finalCallback !== null && this.#pending === null) this.#finish();
  }

  // Everything written has gone to the transport: send end-of-stream (writeEof() / close()).
  #finish(): void {
    const callback = this.#finalCallback;
    if (callback === null) return;
    this.#finalCallback = null;
    const socket = this.#dispatcher.socket;
    if (socket !== null && !socket.destroyed && !socket.writableEnded && !this.#dispatcher.closed) {
      socket.end();
    }
    callback();
  }
}
