import { EventEmitter } from 'eventemitter3';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { DEFAULT_LINGER_TIMEOUT } from '../_core/linger.js';
import { toAddress, validateAddress, type Address } from './_address.js';
import { EMPTY, describeValue, toBuffer, validatePositiveInteger } from './_bytes.js';
import {
  kAdd,
  kAtEof,
  kDelegate,
  kDelete,
  kDispatch,
  kInRound,
  kQueued,
  kRaise,
  kReady,
  kRequestClose,
  kTakeOutput,
  type DispatcherDelegate,
} from './_internal.js';
import { Listener } from './_listener.js';
import { Transport, isDisconnect, type ConnectEvent } from './_transport.js';
import { connectSocket, validateOptions } from './_connect.js';
import { socketMap, type SocketMap } from './socket-map.js';

export type { Address } from './_address.js';

/** The `type` of {@link Dispatcher.logInfo}. */
export type LogType = 'info' | 'warning' | 'error';

/** Options of the {@link Dispatcher} constructor. */
export interface DispatcherOptions {
  /**
   * An already connected (or connecting) transport: a `net.Socket`, a `tls.TLSSocket`, or any
   * `stream.Duplex`. A socket that is still connecting (`socket.connecting`, e.g. right after
   * `net.connect()` / `tls.connect()`) is reported through `handleConnect()` once it connects
   * (for TLS: once the handshake is done).
   */
  socket?: Duplex;
  /** The map this dispatcher joins. Default: the shared {@link socketMap}. */
  map?: SocketMap;
  /**
   * How long (ms) a closed connection may linger without progress: sending what was sent before
   * `close()`, then waiting for the peer's end-of-stream while unread input is discarded. Then
   * the socket is destroyed, so a peer that never reads cannot hold it. Default 5_000;
   * `Infinity` waits as long as the peer keeps it open.
   */
  lingerTimeout?: number;
  /**
   * The most output bytes a queueing dispatcher (`DispatcherWithSend`, `AsyncChat`) holds beyond
   * what its transport took before it stops reading (`handleRead()` waits until the queue is
   * back under the bound), so a peer that sends but never reads is pushed back by TCP instead of
   * growing the queue without end. Default 1 MiB; `Infinity` restores asyncore's unbounded queue.
   */
  maxOutgoing?: number;
}

/** Events of a {@link Dispatcher}; each is emitted right after the handler of the same name ran. */
export interface DispatcherEvents {
  connect: [];
  accept: [];
  read: [];
  write: [];
  close: [];
  error: [error: unknown];
}

// The life of a dispatcher, in order. A connection goes Initial -> Connecting -> Connected ->
// Closing -> Closed (an accepted socket starts Connected), a listener Initial -> Listening ->
// Closing -> Closed. Closing lasts while close() runs handleClose() and releases the transport.
const enum State {
  Initial,
  Connecting,
  Connected,
  Listening,
  Closing,
  Closed,
}

// A close noticed (the transport is gone: handleClose() is due) or requested (close() is due),
// waiting for the next round.
const enum PendingClose {
  None,
  Noticed,
  Requested,
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

const DEFAULT_IGNORED_LOG_TYPES: ReadonlySet<LogType> = new Set<LogType>(['warning']);

/**
 * Base class for callback-style socket handlers: asyncore's `dispatcher`, over any `stream.Duplex`.
 *
 * Subclass it and override the `handle*()` methods (as methods or as arrow-function fields); a
 * `loop()` on the dispatcher's map calls them. Callback order:
 *
 * ```
 * client:    connect() -> handleConnect -> (handleRead | handleWrite)* -> handleClose -> closed
 * server:    bind() + listen() -> handleAccept* (-> handleAccepted) -> closed by close()
 * accepted:  new Dispatcher({ socket }) -> (handleRead | handleWrite)* -> handleClose -> closed
 * ```
 *
 * Every handler call goes through one dispatch path, which guarantees:
 * - Handlers run only inside a `loop()` on {@link map}, one dispatcher at a time. A close noticed
 *   outside a round (a `send()` from a timer to a peer that left) is dispatched by the next round.
 * - `handleRead()` is called when `readable()` is true and bytes, end-of-stream or a pending
 *   close are there (bytes received before a reset are delivered before the close);
 *   `handleWrite()` when `writable()` is true and the transport is not congested. While
 *   `readable()` is false nothing is read: the transport's buffer fills up, Node stops reading
 *   the socket and TCP pushes back on the peer.
 * - `handleClose()` runs at most once per dispatcher, from the library: when the connection ends
 *   (peer end-of-stream, reset), or else on the first `close()`, which calls it before closing
 *   (so cleanup in `handleClose()` always runs, `closeAll()` included). After `close()` no
 *   handler runs again. (A direct call of `this.handleClose()` is an ordinary method call.)
 * - An exception in any handler (or predicate, or event listener) goes to `handleError()` of this
 *   dispatcher only (default: log it and close). Disconnect errors (ECONNRESET, EPIPE, ...) are a
 *   `handleClose()`, never `handleError()`.
 * - Each handler call is followed by the event of the same name (`'read'`, `'write'`, `'connect'`,
 *   `'accept'`, `'error'`); `'close'` is emitted exactly once, when the dispatcher has closed,
 *   whichever way (`close()`, the default `handleClose()`, `closeAll()`, an error).
 * - `close()` never truncates: what was sent before it (and what a queueing subclass still holds)
 *   reaches the peer, then end-of-stream; the socket is destroyed after {@link
 *   DispatcherOptions.lingerTimeout} without progress.
 * - After changing what `readable()` / `writable()` depend on from outside a handler (a timer, a
 *   promise), call {@link Dispatcher.wake} so that a waiting loop asks the predicates again.
 *
 * @example
 * ```ts
 * class EchoHandler extends Dispatcher {
 *   override writable() { return false; } // only react to input
 *   override handleRead() { const data = this.recv(8192); if (data.length) this.send(data); }
 * }
 * class EchoServer extends Dispatcher {
 *   override handleAccepted(socket: Duplex) { new EchoHandler({ socket, map: this.map }); }
 * }
 * const server = new EchoServer();
 * server.bind({ host: '127.0.0.1', port: 0 });
 * await server.listen();
 * const done = loop();
 * // ... later: closeAll(); await done;
 * ```
 */
export class Dispatcher extends EventEmitter<DispatcherEvents> {
  /** Log types `logInfo()` ignores; asyncore ignores `'warning'` by default. */
  ignoreLogTypes: ReadonlySet<LogType> = DEFAULT_IGNORED_LOG_TYPES;
  /** The map this dispatcher belongs to while open. */
  readonly map: SocketMap;
  /** @internal The stream bridge's delegate (see `_internal.ts`), or null. */
  [kDelegate]: DispatcherDelegate | null = null;

  #state = State.Initial;
  // handleClose() has been called by the library (it runs at most once).
  #closeHandled = false;
  #pendingClose = PendingClose.None;
  // An error for handleError() in the next round (kRaise, a listener's server error).
  #raised: { value: unknown } | null = null;
  #transport: Transport | null = null;
  #listener: Listener | null = null;
  #bound: Address | null = null;
  #reuseAddr = false;
  readonly #lingerTimeout: number;
  readonly #maxOutgoing: number;

  constructor(options: DispatcherOptions = {}) {
    super();
    const checked = validateOptions(options, DEFAULT_LINGER_TIMEOUT);
    this.map = options.map ?? socketMap;
    this.#lingerTimeout = checked.lingerTimeout;
    this.#maxOutgoing = checked.maxOutgoing;
    const socket = options.socket;
    if (socket !== undefined) {
      if (
        typeof socket !== 'object' ||
        socket === null ||
        typeof socket.read !== 'function' ||
        typeof socket.write !== 'function'
      ) {
        throw new TypeError(
          `Expected \`socket\` to be a stream.Duplex, got \`${describeValue(socket)}\` (${typeof socket})`,
        );
      }
      if ((socket as Partial<net.Socket>).connecting === true) {
        this.#attach(socket, socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect');
      } else {
        this.#attach(socket, null);
      }
    }
  }

  /**
   * True once the transport is connected (before `handleConnect()` runs), until `close()`.
   * Assignable for asyncore parity (`this.connected = true` marks an attached socket connected).
   */
  get connected(): boolean {
    return this.#state === State.Connected;
  }

  set connected(value: boolean) {
    if (this.#state >= State.Listening) return;
    if (value) this.#state = State.Connected;
    else if (this.#state === State.Connected) this.#state = State.Initial;
  }

  /** True while listening (from `listen()` until `close()`). */
  get accepting(): boolean {
    return this.#state === State.Listening;
  }

  /** True between `connect()` and the connect event. */
  get connecting(): boolean {
    return this.#state === State.Connecting;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#state === State.Closed;
  }

  /** The transport, or null (not connected yet, listening, or never given one). */
  get socket(): Duplex | null {
    return this.#transport?.socket ?? null;
  }

  /** The listening `net.Server` after `listen()`, else null. */
  get server(): net.Server | null {
    return this.#listener?.server ?? null;
  }

  // ---- setup -------------------------------------------------------------------------------

  /**
   * asyncore parity: joins the map. Optional; `bind()` and `connect()` create what they need.
   *
   * @example
   * ```ts
   * const d = new Dispatcher();
   * d.createSocket();
   * ```
   */
  createSocket(): void {
    this.#assertOpen('createSocket');
    this.map[kAdd](this);
  }

  /**
   * asyncore parity: Node's listening sockets already use `SO_REUSEADDR`, so this only records
   * the wish (see {@link reuseAddr}).
   *
   * @example
   * ```ts
   * server.setReuseAddr();
   * server.bind({ host: '127.0.0.1', port: 8080 });
   * ```
   */
  setReuseAddr(): void {
    this.#reuseAddr = true;
  }

  /** Whether `setReuseAddr()` was called. */
  get reuseAddr(): boolean {
    return this.#reuseAddr;
  }

  /**
   * Choose the local address: the address `listen()` listens on (port 0 = any free port), or
   * the local address/port a later `connect()` binds to. Joins the map.
   *
   * @throws {TypeError} If `address` is not `{ host, port }` or `{ path }`.
   * @throws {Error} If the dispatcher is closed or already bound.
   *
   * @example
   * ```ts
   * server.bind({ host: '127.0.0.1', port: 0 });
   * server.bind({ path: '/tmp/chat.sock' }); // a Unix socket
   * ```
   */
  bind(address: Address): void {
    const checked = validateAddress(address, 'bind');
    this.#assertOpen('bind');
    if (this.#bound !== null) throw new Error('Cannot bind(): the dispatcher is already bound');
    this.#bound = checked;
    this.map[kAdd](this);
  }

  /**
   * Start listening on the `bind()` address. Resolves once listening, when `address()` has the
   * real port. Pending connections queue up until `handleAccept()` takes them with `accept()`.
   * Node takes connections from the kernel as they come, so this queue plays the kernel's
   * backlog, and it is bounded: a connection arriving while `backlog` connections wait (say,
   * while `readable()` is false), and at least 511, is refused, its socket destroyed at once.
   * The floor of 511 is there for the `listen(5)` of many asyncore servers.
   * If listening fails (e.g. `EADDRINUSE`) the promise rejects and the dispatcher is closed; a
   * `close()` before listening has finished rejects it with an `AbortError`
   * (`ERR_DB_ABORTED`), and nothing listens afterwards.
   *
   * @param backlog The pending-connection queue length, given to the kernel too (default 511).
   * @throws {RangeError} If `backlog` is not a positive integer.
   *
   * @example
   * ```ts
   * server.bind({ host: '127.0.0.1', port: 0 });
   * await server.listen();
   * console.log(server.address()); // { host: '127.0.0.1', port: 40123 }
   * ```
   */
  async listen(backlog = 511): Promise<void> {
    validatePositiveInteger(backlog, 'backlog');
    this.#assertOpen('listen');
    const bound = this.#bound;
    if (bound === null) throw new Error('Cannot listen(): call bind() first');
    if (this.#transport !== null || this.#listener !== null) {
      throw new Error('Cannot listen(): the dispatcher already has a socket');
    }
    const listener = new Listener(backlog, this.#onWake, this.#onListenerError);
    this.#listener = listener;
    this.#state = State.Listening;
    try {
      await listener.listen(bound, backlog);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * Connect to `address`; `handleConnect()` follows (inside the loop) once connected, with
   * `connected` already true. A refused connection reaches `handleError()` (default: close).
   * For TLS, pass `new Dispatcher({ socket: tls.connect(...) })` instead.
   *
   * @throws {TypeError} If `address` is not `{ host, port }` or `{ path }`.
   *
   * @example
   * ```ts
   * const client = new MyClient();
   * client.connect({ host: '127.0.0.1', port: 8080 });
   * await loop();
   * ```
   */
  connect(address: Address): void {
    const checked = validateAddress(address, 'connect');
    this.#assertOpen('connect');
    if (this.#transport !== null || this.#listener !== null) {
      throw new Error('Cannot connect(): the dispatcher already has a socket');
    }
    this.#attach(connectSocket(checked, this.#bound), 'connect');
  }

  /**
   * The actual local address: the listening address (with the real port after port 0), or the
   * connected socket's local address; null when there is none (e.g. an in-memory duplex).
   *
   * @example
   * ```ts
   * await server.listen();
   * const { port } = server.address() as { host: string; port: number };
   * ```
   */
  address(): Address | null {
    if (this.#listener !== null) return this.#listener.address();
    const socket = this.socket as Partial<net.Socket> | null;
    if (socket !== null && typeof socket.address === 'function') return toAddress(socket.address());
    return null;
  }

  /**
   * Take the next pending connection of a listening dispatcher (call it from `handleAccept()`),
   * or null when there is none. Wrap the socket in a dispatcher at once: until then nothing
   * listens for its errors. The address follows the one address rule: an IPv4 client of a `'::'`
   * listener is `{ host: '127.0.0.1', port, family: 'IPv4' }`; a Unix socket's is `{ path: '' }`.
   *
   * @example
   * ```ts
   * override handleAccept() {
   *   const pair = this.accept();
   *   if (pair) new Handler({ socket: pair.socket, map: this.map });
   * }
   * ```
   */
  accept(): { socket: Duplex; address: Address } | null {
    return this.#listener?.accept() ?? null;
  }

  // ---- I/O ---------------------------------------------------------------------------------

  /**
   * Send bytes like a non-blocking socket: returns how many the transport took, which may be
   * fewer than given, and 0 when it is congested. The transport's `writableHighWaterMark` plays
   * the kernel send buffer. Strings are encoded as UTF-8. As with `socket.write()`, do not modify
   * a sent Uint8Array afterwards. On a closed dispatcher it returns 0. If the connection is gone
   * it returns 0 and never throws: the close is dispatched (`handleClose()`) in this round, or,
   * called outside a round, in the next one (asyncore: a disconnect is a close, not a crash).
   *
   * @throws {TypeError} If `data` is neither a Uint8Array nor a string.
   * @throws {Error} If the dispatcher never had a transport.
   *
   * @example
   * ```ts
   * const sent = this.send(this.pending);
   * this.pending = this.pending.subarray(sent); // DispatcherWithSend does this for you
   * ```
   */
  send(data: Uint8Array | string): number {
    const bytes = toBuffer(data, 'send');
    if (this.#state === State.Closed) return 0;
    const transport = this.#transport;
    if (transport === null) throw new Error('Cannot send(): the dispatcher is not connected');
    if (transport.gone) {
      this.#noticeClose();
      return 0;
    }
    const socket = transport.socket;
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
   * Receive up to `bufferSize` bytes of what is buffered (bytes received before a reset
   * included). At end-of-stream (or when the transport closed) it returns an empty Buffer and
   * `handleClose()` is dispatched (asyncore rule). It also returns an empty Buffer when nothing
   * is buffered yet, and after `close()`.
   *
   * @throws {RangeError} If `bufferSize` is not a positive integer.
   * @throws {Error} If the dispatcher never had a transport.
   *
   * @example
   * ```ts
   * override handleRead() {
   *   const data = this.recv(8192);
   *   if (data.length > 0) this.consume(data);
   * }
   * ```
   */
  recv(bufferSize: number): Buffer {
    validatePositiveInteger(bufferSize, 'bufferSize');
    if (this.#state === State.Closed) return EMPTY;
    const transport = this.#transport;
    if (transport === null) throw new Error('Cannot recv(): the dispatcher is not connected');
    const chunk = transport.read(bufferSize);
    if (chunk !== null) return chunk;
    if (transport.ended && !this.#closeHandled) {
      this[kAtEof]();
      const delegate = this[kDelegate];
      if (delegate === null || !delegate.eof()) this.#noticeClose();
    }
    return EMPTY;
  }

  /**
   * Close the dispatcher: it leaves its map and no handler of it runs again. A connection is
   * closed gracefully: what was sent (and what a queueing subclass still holds) is delivered,
   * then end-of-stream, while unread input is discarded; the socket is destroyed once both sides
   * are done, or after `lingerTimeout` without progress. A listener stops listening and drops
   * the connections it had not accepted; a `listen()` still pending rejects with an
   * `AbortError`. Calling it twice is harmless. If `handleClose()` has not run yet, `close()`
   * runs it first; an exception from it is logged, and the dispatcher closes anyway. `'close'`
   * is emitted last.
   *
   * @example
   * ```ts
   * override handleClose() { this.log('bye'); this.close(); }
   * ```
   */
  close(): void {
    if (this.#state >= State.Closing) return;
    this.#state = State.Closing;
    if (!this.#closeHandled) {
      this.#closeHandled = true;
      try {
        this.handleClose(); // the default handleClose() calls close(): Closing ends the recursion
      } catch (error) {
        this.#log(`Error in handleClose(), closing: ${describeError(error)}`);
      }
    }
    this.#state = State.Closed;
    this.#raised = null;
    this.#pendingClose = PendingClose.None;
    this.map[kDelete](this);
    this.#listener?.close();
    this.#transport?.release(this.#lingerTimeout, () => this[kTakeOutput]());
    try {
      this.emit('close');
    } catch (error) {
      this.#log(`Error in a 'close' listener: ${describeError(error)}`);
    }
    this[kDelegate]?.closed();
  }

  // ---- predicates and handlers (override these) --------------------------------------------

  /** Whether the loop may call `handleRead()` / `handleAccept()`. Default true. */
  readable(): boolean {
    return true;
  }

  /** Whether the loop may call `handleWrite()`. Default true (asyncore's busy loop!). */
  writable(): boolean {
    return true;
  }

  /** The connection is established (`connected` is already true). Default: logs a warning. */
  handleConnect(): void {
    this.logInfo('Unhandled connect event', 'warning');
  }

  /** A connection is pending: default takes it with `accept()` and calls `handleAccepted()`. */
  handleAccept(): void {
    const pair = this.accept();
    if (pair !== null) this.handleAccepted(pair.socket, pair.address);
  }

  /** A connection was accepted. Default: logs a warning and closes the socket (asyncore). */
  handleAccepted(socket: Duplex, _address: Address): void {
    this.logInfo('Unhandled incoming connection', 'warning');
    socket.destroy();
  }

  /** Bytes or end-of-stream are there: call `recv()`. Default: logs a warning. */
  handleRead(): void {
    this.logInfo('Unhandled read event', 'warning');
  }

  /** The transport can take more bytes: call `send()`. Default: logs a warning. */
  handleWrite(): void {
    this.logInfo('Unhandled write event', 'warning');
  }

  /** The connection ended, or `close()` was called (runs at most once). Default: `close()`. */
  handleClose(): void {
    this.close();
  }

  /**
   * A handler threw, or the transport failed with a non-disconnect error (e.g. ECONNREFUSED).
   * Default: `logInfo()` the error as `'error'`, then `close()` (which runs `handleClose()`).
   */
  handleError(error: unknown): void {
    this.logInfo(`Uncaptured error, closing the dispatcher: ${describeError(error)}`, 'error');
    this.close();
  }

  /**
   * Log a message (asyncore `log_info`): `'info'` goes to stdout, others to stderr, as
   * `type: message`; types in {@link ignoreLogTypes} (default: `'warning'`) are dropped.
   * Override it to use your logger, or to silence a dispatcher in tests.
   *
   * @example
   * ```ts
   * class Quiet extends Dispatcher { override logInfo() {} }
   * ```
   */
  logInfo(message: string, type: LogType = 'info'): void {
    if (this.ignoreLogTypes.has(type)) return;
    const line = `${type}: ${message}\n`;
    if (type === 'info') process.stdout.write(line);
    else process.stderr.write(line);
  }

  /**
   * Ask the running loop of this dispatcher's map to check the predicates now: see
   * {@link SocketMap.wake}. Only needed when `readable()` / `writable()` change outside a handler.
   */
  wake(): void {
    this.map.wake();
  }

  // ---- loop protocol (internal) -------------------------------------------------------------

  /** @internal */
  [kReady](): boolean {
    const state = this.#state;
    if (state === State.Closed) return false;
    if (this.#raised !== null || this.#pendingClose !== PendingClose.None) return true;
    try {
      if (state === State.Listening) {
        return (this.#listener as Listener).pendingCount > 0 && this.#readable();
      }
      const transport = this.#transport;
      if (transport === null) return false;
      if (transport.failed && !this.#closeHandled) return true;
      if (state === State.Connecting) {
        return transport.connectDone && (this.#readable() || this.#writable());
      }
      if ((transport.readableLength > 0 || transport.ended) && this.#readable()) return true;
      return state === State.Connected && !transport.socket.writableNeedDrain && this.#writable();
    } catch (error) {
      this.#fail(error);
      return false;
    }
  }

  /** @internal */
  [kDispatch](): void {
    if (this.#state === State.Closed) return;
    const raised = this.#raised;
    if (raised !== null) {
      this.#raised = null;
      this.#fail(raised.value);
      return;
    }
    const pending = this.#pendingClose;
    if (pending !== PendingClose.None) {
      this.#pendingClose = PendingClose.None;
      if (pending === PendingClose.Requested) this.close();
      else this.#dispatchClose();
      return;
    }
    try {
      this.#dispatchIo();
    } catch (error) {
      this.#fail(error);
    }
  }

  /** @internal Hook for subclasses of this package: runs before handleClose() at end-of-stream. */
  [kAtEof](): void {}

  /** @internal Bytes queued beyond the transport (DispatcherWithSend, AsyncChat). */
  [kQueued](): number {
    return 0;
  }

  /** @internal The next chunk to flush after close(), or null. */
  [kTakeOutput](): Buffer | null {
    return null;
  }

  /** @internal See `_internal.ts`. */
  [kRaise](error: unknown): void {
    if (this.#state === State.Closed || this.#raised !== null) return;
    this.#raised = { value: error };
    this.map.wake();
  }

  /** @internal See `_internal.ts`. */
  [kRequestClose](): void {
    if (this.#state === State.Closed) return;
    this.#pendingClose = PendingClose.Requested;
    this.map.wake();
  }

  // ---- the dispatch path (private) ----------------------------------------------------------

  #dispatchIo(): void {
    if (this.#state === State.Listening) {
      if ((this.#listener as Listener).pendingCount > 0 && this.#readable()) {
        this.#call(() => this.handleAccept(), 'accept');
      }
      return;
    }
    const transport = this.#transport;
    if (transport === null) return;
    const error = transport.takeError();
    if (error !== null && !isDisconnect(error.value)) {
      this.#fail(error.value);
      return;
    }
    if (this.#state === State.Connecting) {
      if (!transport.connectDone) {
        if (transport.failed) this.#dispatchClose();
        return;
      }
      this.#state = State.Connected;
      if (!this.#call(() => this.handleConnect(), 'connect')) return;
    }
    if ((transport.readableLength > 0 || transport.ended) && this.#readable()) {
      if (!this.#call(this.#handleRead, 'read')) return;
    }
    if (transport.failed && !this.#closeHandled) {
      // A reset (or a close) whose bytes were delivered, or that readable() keeps waiting.
      this.#dispatchClose();
      return;
    }
    if (this.connected && !transport.socket.writableNeedDrain && this.#writable()) {
      this.#call(this.#handleWrite, 'write');
    }
  }

  // Runs one handler, then its event; an exception goes to handleError(). False once closed.
  #call(handler: () => void, event: 'read' | 'write' | 'connect' | 'accept'): boolean {
    try {
      handler();
      this.emit(event);
    } catch (error) {
      this.#fail(error);
    }
    return this.#state !== State.Closed;
  }

  #handleRead = (): void => {
    const delegate = this[kDelegate];
    if (delegate === null) this.handleRead();
    else delegate.handleRead();
  };

  #handleWrite = (): void => {
    const delegate = this[kDelegate];
    if (delegate === null) this.handleWrite();
    else delegate.handleWrite();
  };

  #readable(): boolean {
    if (this[kQueued]() > this.#maxOutgoing) return false;
    const delegate = this[kDelegate];
    return delegate === null ? this.readable() : delegate.readable();
  }

  #writable(): boolean {
    const delegate = this[kDelegate];
    return delegate === null ? this.writable() : delegate.writable();
  }

  // The connection ended: handleClose() (once), now if inside a round, else in the next one.
  #noticeClose(): void {
    if (this.#closeHandled || this.#state >= State.Closing) return;
    if (this.map[kInRound]) {
      this.#dispatchClose();
    } else if (this.#pendingClose === PendingClose.None) {
      this.#pendingClose = PendingClose.Noticed;
      this.map.wake();
    }
  }

  #dispatchClose(): void {
    if (this.#closeHandled || this.#state >= State.Closing) return;
    this.#closeHandled = true;
    try {
      this.handleClose();
    } catch (error) {
      this.#log(`Error in handleClose(), closing: ${describeError(error)}`);
      this.close();
    }
    // A bridged dispatcher's streams are done: it cannot stay half-closed.
    if (this[kDelegate] !== null) this.close();
  }

  #fail(error: unknown): void {
    if (this.#state === State.Closed) {
      // No handler runs after close(): an error raised while closing is only logged.
      this.#log(`Error after close(): ${describeError(error)}`);
      return;
    }
    const handle = (): void => {
      this.handleError(error);
      this.emit('error', error);
    };
    try {
      const delegate = this[kDelegate];
      if (delegate === null) handle();
      else delegate.error(error, handle);
    } catch (second) {
      this.#log(`Error in handleError(), closing: ${describeError(second)}`);
      this.close();
    }
  }

  #log(message: string): void {
    try {
      this.logInfo(message, 'error');
    } catch {
      // A logger that throws must not take the loop down.
    }
  }

  #assertOpen(method: string): void {
    if (this.#state === State.Closed)
      throw new Error(`Cannot ${method}(): the dispatcher is closed`);
  }

  #attach(socket: Duplex, connectEvent: ConnectEvent | null): void {
    this.#transport = new Transport(socket, connectEvent, this.#onWake);
    this.#state = connectEvent === null ? State.Connected : State.Connecting;
    this.map[kAdd](this);
  }

  #onWake = (): void => {
    this.map.wake();
  };

  #onListenerError = (error: unknown): void => {
    this[kRaise](error);
  };
}
