// Wires a connected socket (or any Duplex) to a StreamReader/StreamWriter pair (the job of asyncio's
// StreamReaderProtocol). Internal: used by openConnection(), fromDuplex() and the servers.
//
// Cheap per connection: one Wire object holds the state, and the socket's listeners are shared
// functions that find it through a symbol property of the socket (no closure per connection). A
// Duplex wired a second time gets listeners of its own (closures), as every wire of it must.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { runNodeEnd, takeNodeEnd } from '../_core/node-end.js';
import { ConnectionClosedError } from './errors.js';
import { StreamReader } from './reader.js';
import { wiredWriter, type StreamWriter, type StreamWriterOptions } from './writer.js';

export interface WiredStreams {
  reader: StreamReader;
  writer: StreamWriter;
  /** Fails the reader with `error` (first error wins) and destroys the socket. */
  fail(error: unknown): void;
}

const kWire = Symbol('dispatch-bridge:wire');

// Wire.#state's bits.
const DONE = 1;
const NODE_END = 2;

/**
 * Told of the wired socket's events once the wire has handled them (the reader has the bytes,
 * the end, the close): what an adapter over the reader would otherwise listen to on the socket
 * (see {@link observeWire}).
 */
export interface WireObserver {
  /** The socket delivered bytes or its end. */
  transportEvent(): void;
  /** The socket closed. */
  transportClose(): void;
}

type WiredDuplex = Duplex & { [kWire]?: Wire };

/**
 * A wired socket (see {@link wireSocket}): the reader, the writer and their state; its
 * pause()/resume() are the reader's flow-control hooks. A server's connection extends it, so that
 * one object per connection holds all of it; it may override {@link closed} (calling super).
 */
export class Wire implements WiredStreams {
  readonly reader: StreamReader;
  readonly writer: StreamWriter;
  readonly socket: Duplex;
  // DONE once the reader got its end (end-of-stream, an error) or the writer started closing;
  // NODE_END when the 'end' listener stands for Node's own (see _core/node-end.ts).
  #state = 0;
  /**
   * The one observer of the socket's events (see {@link observeWire}), if any: undefined on the
   * prototype, an own property only once observed (a wire that is never observed holds none).
   */
  declare observer: WireObserver | undefined;
  /**
   * `forwardErrors`: the writer gets the socket's errors through this wire's listener instead of
   * one of its own (a server's connection, one `'error'` listener per socket, no array): the
   * subclass's error() must then call {@link forwardError} first.
   *
   * `forwardClose`: the socket's `'close'` reaches this wire through its owner, who calls
   * {@link deliverClose} (a server whose core tracks the socket: one listener fewer per socket).
   */
  constructor(
    socket: Duplex,
    limit: number | undefined,
    writerOptions?: StreamWriterOptions,
    forwardErrors = false,
    forwardClose = false,
  ) {
    this.socket = socket;
    this.reader = new StreamReader({ limit });
    this.reader.setTransport(this);
    // Its 'close' comes through closed() below: one listener fewer on the socket.
    this.writer = wiredWriter.create(socket, writerOptions, forwardErrors);
    wiredWriter.onClosing(this.writer, this);
    // TCP_NODELAY, as asyncio sets it: the writer already gathers small writes per tick. (A
    // server's sockets have it already: then this costs nothing.)
    if (socket instanceof net.Socket) socket.setNoDelay(true);
    const wired = socket as WiredDuplex;
    if (wired[kWire] === undefined) {
      wired[kWire] = this;
      socket.on('data', onData);
      if (takeNodeEnd(socket)) this.#state = NODE_END;
      socket.on('end', onEnd);
      socket.on('error', onError);
      if (!forwardClose) socket.on('close', onClose);
    } else {
      socket.on('data', (chunk: Buffer) => this.socketData(chunk));
      socket.on('end', () => this.socketEnd());
      socket.on('error', (error) => this.error(error));
      socket.on('close', () => this.socketClose());
    }
  }

  /** The socket's 'data': the reader is fed, then the observer told. */
  socketData(chunk: Buffer): void {
    this.data(chunk);
    this.observer?.transportEvent();
  }

  /** The socket's 'end'. */
  socketEnd(): void {
    if ((this.#state & NODE_END) !== 0) runNodeEnd(this.socket);
    this.end();
    this.observer?.transportEvent();
  }

  /** The socket's 'close': {@link closed}, then the observer is told. */
  socketClose(): void {
    this.closed();
    this.observer?.transportClose();
  }

  pause(): void {
    if ((this.#state & DONE) === 0) this.socket.pause();
  }

  resume(): void {
    if ((this.#state & DONE) === 0) this.socket.resume();
  }

  data(chunk: Buffer): void {
    if ((this.#state & DONE) === 0) this.reader.feedData(chunk);
  }

  /** End-of-stream, a close, or the writer starting to close: the reader ends. */
  end(): void {
    if ((this.#state & DONE) !== 0) return;
    this.#state |= DONE;
    this.reader.feedEof();
  }

  /** The writer started closing (see wiredWriter.onClosing()). */
  writerClosing(): void {
    this.end();
  }

  /** Tells the writer of a wire made with `forwardErrors` about a socket error. */
  protected forwardError(error: unknown): void {
    wiredWriter.error(this.writer, error);
  }

  error(error: unknown): void {
    if ((this.#state & DONE) !== 0) return;
    this.#state |= DONE;
    this.reader.setException(new ConnectionClosedError('Connection lost', { cause: error }));
  }

  /** The socket closed: the writer learns it first, then the reader. */
  closed(): void {
    wiredWriter.closed(this.writer);
    this.end();
  }

  fail(error: unknown): void {
    if ((this.#state & DONE) === 0) {
      this.#state |= DONE;
      this.reader.setException(error);
    }
    this.socket.destroy();
  }
}

Wire.prototype.observer = undefined;

// The shared listeners: `this` is the socket.
function onData(this: WiredDuplex, chunk: Buffer): void {
  this[kWire]!.socketData(chunk);
}
function onEnd(this: WiredDuplex): void {
  this[kWire]!.socketEnd();
}
function onError(this: WiredDuplex, error: unknown): void {
  this[kWire]!.error(error);
}
function onClose(this: WiredDuplex): void {
  this[kWire]!.socketClose();
}

/**
 * The socket of a wire made with `forwardClose` emitted `'close'`: its wire handles it (see
 * {@link Wire.socketClose}). Nothing for a socket without a wire. Call it once per socket, from
 * the one listener that stands for the wire's.
 *
 * @example
 * ```ts
 * hooks.socketClosed = (socket) => deliverClose(socket);
 * ```
 */
export function deliverClose(socket: Duplex): void {
  (socket as WiredDuplex)[kWire]?.socketClose();
}

/**
 * Makes `observer` the observer of the wire that feeds `reader` from `socket` (its first wire):
 * it is told of the socket's data, end and close after the wire handled them, with no listener
 * of its own on the socket. False when `socket` has no such wire, or it has an observer already.
 *
 * @example
 * ```ts
 * if (!observeWire(socket, reader, this)) socket.on('data', () => this.transportEvent());
 * ```
 */
export function observeWire(socket: Duplex, reader: StreamReader, observer: WireObserver): boolean {
  const wire = (socket as WiredDuplex)[kWire];
  if (wire === undefined || wire.reader !== reader || wire.observer !== undefined) return false;
  wire.observer = observer;
  return true;
}

/** Whether `socket` has a wire that feeds `reader` (its events reach the reader). */
export function feedsReader(socket: Duplex, reader: StreamReader): boolean {
  return (socket as WiredDuplex)[kWire]?.reader === reader;
}

/** Removes `observer` (see {@link observeWire}); nothing when it is not the wire's observer. */
export function unobserveWire(socket: Duplex, observer: WireObserver): void {
  const wire = (socket as WiredDuplex)[kWire];
  if (wire?.observer === observer) wire.observer = undefined;
}

/**
 * The socket is read in flowing mode ('data' events): the fastest path. The reader's flow
 * control pauses and resumes it. A reset or error becomes a ConnectionClosedError (with the
 * socket error as `cause`) in the reader, unless end-of-stream was already received; a close
 * without end-of-stream (the socket was destroyed locally) is an end-of-stream. Once the writer
 * starts closing (close(), abort(), or the server closing it after the handler) the reader gets
 * end-of-stream and input is no longer fed to it: the lingering close discards it.
 */
export function wireSocket(
  socket: Duplex,
  limit: number | undefined,
  writerOptions?: StreamWriterOptions,
): WiredStreams {
  return new Wire(socket, limit, writerOptions);
}
