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
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { kDelegate, kRaise, kRequestClose, type DispatcherDelegate } from '../legacy/_internal.js';
import { Dispatcher } from '../legacy/dispatcher.js';
import { DispatcherWithSend } from '../legacy/dispatcher-with-send.js';
import { ConnectionClosedError } from '../modern/errors.js';
import { StreamReader } from '../modern/reader.js';
import { StreamWriter, type ExtraInfoName } from '../modern/writer.js';
import { transportInfo } from '../modern/_extra-info.js';
import { InvalidArgumentError, InvalidStateError, OutOfRangeError } from '../errors.js';
import { BridgeSink } from './_bridge-sink.js';

/** Options shared by toStreams() and asDispatcherClass(). */
export interface BridgeOptions {
  /** The reader's buffer limit (default 65536); above 2 x limit, `readable()` turns false. */
  limit?: number | undefined;
  /** Bytes the writer may queue before `drain()` waits (default 65536). */
  highWaterMark?: number | undefined;
}

const RECV_SIZE = 65536;

// DispatcherBridge's #flags: the reader got its end-of-stream or error (nothing more is read);
// closed() ran; the dispatcher is not a DispatcherWithSend (see sendDirect()).
const EOF_FED = 1;
const LOST_DONE = 2;
const DIRECT = 4;

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

// The dispatcher's delegate: the bridge's side of the dispatch path. A separate object (of one
// field) because a delegate's closed() is a method and a transport's `closed` a boolean.
class BridgeDelegate implements DispatcherDelegate {
  readonly #bridge: DispatcherBridge;

  constructor(bridge: DispatcherBridge) {
    this.#bridge = bridge;
  }

  get bridge(): DispatcherBridge {
    return this.#bridge;
  }

  readable(): boolean {
    return this.#bridge.canRead();
  }

  writable(): boolean {
    return this.#bridge.wantsWrite();
  }

  handleRead(): void {
    this.#bridge.handleRead();
  }

  handleWrite(): void {
    this.#bridge.handleWrite();
  }

  eof(): boolean {
    return this.#bridge.eof();
  }

  error(error: unknown, handle: () => void): void {
    this.#bridge.error(error, handle);
  }

  closed(): void {
    this.#bridge.dispatcherClosed();
  }
}

/** The bridge that took `dispatcher` over (toStreams(), asDispatcherClass()), if one did. */
export function bridgeOf(dispatcher: Dispatcher): DispatcherBridge | undefined {
  const delegate = dispatcher[kDelegate];
  return delegate instanceof BridgeDelegate ? delegate.bridge : undefined;
}

// A StreamWriter that answers getExtraInfo() from the dispatcher's real socket (its transport is
// the bridge, which knows the dispatcher: no field of its own).
class DispatcherWriter extends StreamWriter {
  override canWriteEof(): boolean {
    return !(dispatcherOf(this).socket instanceof tls.TLSSocket);
  }

  override getExtraInfo(name: ExtraInfoName): unknown {
    return socketInfo(dispatcherOf(this).socket, name);
  }
}

function dispatcherOf(writer: StreamWriter): Dispatcher {
  return (writer.transport as unknown as DispatcherBridge).dispatcher;
}

/**
 * Takes over the read/write side of one dispatcher through its internal delegate (its class's
 * `handleConnect()`, `handleClose()` and `handleError()` still run, and nothing on the instance
 * is replaced) and exposes the connection as a reader and a writer.
 *
 * The bridge is the reader's flow-control hooks (`resume()`) and the writer's transport (a
 * {@link BridgeSink}), with a one-field delegate object for the dispatcher; its methods are on
 * the prototype (no closures), and only the dispatcher's dispatch path calls the delegate's.
 */
export class DispatcherBridge extends BridgeSink {
  readonly reader: StreamReader;
  readonly writer: StreamWriter;
  readonly #dispatcher: Dispatcher;
  // EOF_FED, LOST_DONE, DIRECT.
  #flags = 0;
  // Bytes of the write in progress that send() has not taken yet (EMPTY: all taken, waiting for
  // a DispatcherWithSend's out buffer to drain); null: no write in progress.
  #pending: Uint8Array | null = null;

  constructor(dispatcher: Dispatcher, options: BridgeOptions = {}) {
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
    super(options.highWaterMark ?? 65536);
    this.#dispatcher = dispatcher;
    // Not a DispatcherWithSend (whose send() takes everything, its out buffer the backlog): a
    // write may go to send() directly (sendDirect()).
    if (!(dispatcher instanceof DispatcherWithSend)) this.#flags = DIRECT;
    this.reader = new StreamReader({ limit: options.limit });
    // The bridge is the reader's flow-control hooks (its resume() on the prototype): no options
    // object, closure or context kept per connection.
    this.reader.setTransport(this);
    // The bridge is the writer's transport (it has the part of a Duplex a writer uses).
    this.writer = new DispatcherWriter(this as unknown as Duplex);
    dispatcher[kDelegate] = new BridgeDelegate(this);
  }

  /** The dispatcher taken over. */
  get dispatcher(): Dispatcher {
    return this.#dispatcher;
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
   * waiting loop look again. (A graceful close of the writer's transport calls it too, to read
   * the readable side that has no bytes: a wake is harmless.)
   */
  resume(): this {
    this.#dispatcher.wake();
    return this;
  }

  /** The connection is gone (once, after the reader got its end or error): for subclasses. */
  protected lost(): void {}

  // ---- the dispatcher's side (through its delegate: only from its dispatch path) --------------

  /** The dispatcher's `readable()`. */
  canRead(): boolean {
    const socket = this.#dispatcher.socket;
    if (socket === null) return false;
    // A transport that is gone must reach recv() so that the close is seen, paused or not.
    if (socket.destroyed) return true;
    return (this.#flags & EOF_FED) === 0 && !this.reader.paused;
  }

  /** The dispatcher's `writable()`: a partial send is waiting. */
  wantsWrite(): boolean {
    return this.#pending !== null;
  }

  /** The dispatcher's `handleRead()`. */
  handleRead(): void {
    const dispatcher = this.#dispatcher;
    const reader = this.reader;
    while ((this.#flags & EOF_FED) === 0 && !reader.paused) {
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
    DispatcherBridge.#settleWrite(this);
  }

  /**
   * recv() saw end-of-stream: with the transport still open it is a half-close (the reader ends,
   * the writer goes on); a transport that is gone is the close.
   */
  eof(): boolean {
    const socket = this.#dispatcher.socket;
    if (socket === null || socket.destroyed) return false;
    if ((this.#flags & EOF_FED) === 0) {
      this.#flags |= EOF_FED;
      this.reader.feedEof();
    }
    return true;
  }

  /** An error on its way to the class's `handleError()` (`handle`). */
  error(error: unknown, handle: () => void): void {
    this.#flags |= EOF_FED;
    this.reader.setException(error);
    try {
      handle();
    } finally {
      // The reader has failed for good: whatever the class's handleError() did, the connection
      // is of no more use.
      this.#dispatcher.close();
      this.dispatcherClosed();
    }
  }

  /**
   * The dispatcher closed; the connection is gone: the reader ends (or fails after a reset), the
   * writer's transport closes. Idempotent.
   */
  dispatcherClosed(): void {
    if ((this.#flags & LOST_DONE) !== 0) return;
    this.#flags |= LOST_DONE;
    if ((this.#flags & EOF_FED) === 0) {
      this.#flags |= EOF_FED;
      const errored = this.#dispatcher.socket?.errored;
      if (errored) {
        this.reader.setException(new ConnectionClosedError('Connection lost', { cause: errored }));
      } else {
        this.reader.feedEof();
      }
    }
    this.#pending = null;
    if (!this.destroyed) this.destroy();
    this.lost();
  }

  // ---- the writer's side (BridgeSink) ---------------------------------------------------------

  /**
   * The direct write: how many bytes of `chunk` are done with (all of it when send() took it
   * whole, or the connection is gone and it is dropped; 0 when it must be a write in progress:
   * nothing was sent, or a DispatcherWithSend buffers its sends).
   */
  protected sendDirect(chunk: Uint8Array): number {
    const dispatcher = this.#dispatcher;
    if ((this.#flags & DIRECT) === 0 || dispatcher.closed || this.#pending !== null) return 0;
    const sent = dispatcher.send(chunk);
    return dispatcher.closed ? chunk.length : sent;
  }

  protected startWrite(chunk: Uint8Array): void {
    const dispatcher = this.#dispatcher;
    if (dispatcher.closed) {
      this.writeFailed(new ConnectionClosedError('Cannot write: the dispatcher is closed'));
      return;
    }
    const sent = dispatcher.send(chunk);
    if (dispatcher.closed) return; // the connection is gone; the sink is destroyed
    if (sent === chunk.length && !backlogged(dispatcher)) {
      this.writeDone();
      return;
    }
    this.#pending = chunk.subarray(sent);
    dispatcher.wake();
  }

  // Everything written has gone to the transport: send end-of-stream (writeEof() / close()).
  protected endTransport(): void {
    const dispatcher = this.#dispatcher;
    const socket = dispatcher.socket;
    if (socket !== null && !socket.destroyed && !socket.writableEnded && !dispatcher.closed) {
      socket.end();
    }
  }

  protected destroyTransport(error: Error | null): void {
    this.#pending = null;
    const dispatcher = this.#dispatcher;
    const socket = dispatcher.socket;
    if (!dispatcher.closed) {
      // writer.close() ends the sink first (graceful); writer.abort() destroys it at once. The
      // dispatcher closes (and its handleClose() runs) in its next round, inside loop().
      if (error !== null || !this.writableFinished) socket?.destroy();
      dispatcher[kRequestClose]();
    }
    // Closed (for waitClosed()) once the dispatcher has closed and its transport is released.
    const settle = (): void => {
      if (socket === null || socket.closed) this.transportClosed(error);
      else socket.once('close', () => this.transportClosed(error));
    };
    if (dispatcher.closed) settle();
    else dispatcher.once('close', settle);
  }

  // The write in progress is done once send() took it and a DispatcherWithSend's out buffer (our
  // backlog then, so that drain() still waits for the socket) is empty.
  static #settleWrite(bridge: DispatcherBridge): void {
    if (bridge.#pending === null || backlogged(bridge.#dispatcher)) return;
    bridge.#pending = null;
    bridge.writeDone();
  }
}

// DispatcherWithSend's send() takes everything and buffers what the transport did not.
function backlogged(dispatcher: Dispatcher): boolean {
  return dispatcher instanceof DispatcherWithSend && dispatcher.outBufferLength > 0;
}
