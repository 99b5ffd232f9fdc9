import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { DEFAULT_LINGER_TIMEOUT } from '../_core/linger.js';
import { toAddress, validateAddress, type Address } from './_address.js';
import { EMPTY, toBuffer, validatePositiveInteger } from './_bytes.js';
import {
  kAdd,
  kAtEof,
  kDelegate,
  kDispatch,
  kGeneration,
  NOT_A_MEMBER,
  kQueued,
  kRaise,
  kReady,
  kRoundEnd,
  kRequestClose,
  kTakeOutput,
  kTouch,
} from './_internal.js';
import { Listener } from './_listener.js';
import { checkListenOptions, listenerHooks, type ListenOptions } from './_listen-options.js';
import {
  Life,
  State,
  dispatch,
  hasFlag,
  kIo,
  kLife,
  kRaised,
  listenerOf,
  noticeClose,
  assertOpen,
  attachTransport,
  closeDispatcher,
  ready,
  setState,
  stateOf,
  transportOf,
} from './_lifecycle.js';
import { kTransportWake, type Transport } from './_transport.js';
import { checkSocket, connectSocket, validateOptions, type DispatcherOptions } from './_connect.js';
import { DispatcherHandlers } from './_handlers.js';
import { socketMap, type SocketMap } from './socket-map.js';
import type { AcceptedConnection } from './_listener.js';
import { InvalidStateError } from '../errors.js';

export type { AcceptedConnection } from './_listener.js';

const kLingerTimeout: unique symbol = Symbol('dispatch-bridge.lingerTimeout');
const kBound: unique symbol = Symbol('dispatch-bridge.bound');

export type { Address } from './_address.js';
export type { DispatcherOptions } from './_connect.js';
export type { DispatcherEvents, LogType } from './_handlers.js';

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
export class Dispatcher extends DispatcherHandlers {
  /** The map this dispatcher belongs to while open. */
  readonly map: SocketMap;
  /** @internal See `_internal.ts`: the map's bookkeeping. */
  [kGeneration] = NOT_A_MEMBER;

  // The dispatch path's state (see `_lifecycle.ts`): the State and its flags, the error for the
  // next round, the transport or the listener.
  /** @internal */
  [kLife] = State.Initial as number;
  /** @internal */
  [kRaised]: { value: unknown } | null = null;
  /** @internal */
  [kIo]: Transport | Listener | null = null;
  /** @internal The address bind() gave; own only once bound (an accepted connection never is). */
  declare [kBound]: Address | null;
  /** @internal The `lingerTimeout` option; own only when it is not the default (see below). */
  declare readonly [kLingerTimeout]: number;

  constructor(options: DispatcherOptions = {}) {
    const checked = validateOptions(options, DEFAULT_LINGER_TIMEOUT);
    super(checked.maxOutgoing);
    this.map = options.map ?? socketMap;
    if (checked.lingerTimeout !== DEFAULT_LINGER_TIMEOUT)
      this[kLingerTimeout] = checked.lingerTimeout;
    const attached = checkSocket(options.socket);
    if (attached !== undefined) attachTransport(this, attached.socket, attached.connectEvent);
  }

  /**
   * True once the transport is connected (before `handleConnect()` runs), until `close()`.
   * Assignable for asyncore parity (`this.connected = true` marks an attached socket connected).
   */
  get connected(): boolean {
    return stateOf(this) === State.Connected;
  }

  /** asyncore parity (`self.connected = True`): ignored once listening or closed. */
  set connected(value: boolean) {
    const state = stateOf(this);
    if (state >= State.Listening) return;
    if (value) setState(this, State.Connected);
    else if (state === State.Connected) setState(this, State.Initial);
  }

  /** True while listening (from `listen()` until `close()`). */
  get accepting(): boolean {
    return stateOf(this) === State.Listening;
  }

  /** True between `connect()` and the connect event. */
  get connecting(): boolean {
    return stateOf(this) === State.Connecting;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return stateOf(this) === State.Closed;
  }

  /** The transport, or null (not connected yet, listening, or never given one). */
  get socket(): Duplex | null {
    return transportOf(this)?.socket ?? null;
  }

  /** The listening `net.Server` after `listen()`, else null. */
  get server(): net.Server | null {
    return listenerOf(this)?.server ?? null;
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
    assertOpen(this, 'createSocket');
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
    this[kLife] |= Life.ReuseAddr;
  }

  /** Whether `setReuseAddr()` was called. */
  get reuseAddr(): boolean {
    return hasFlag(this, Life.ReuseAddr);
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
    assertOpen(this, 'bind');
    if (this[kBound] !== null)
      throw new InvalidStateError('Cannot bind(): the dispatcher is already bound');
    this[kBound] = checked;
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
   * Behind a load balancer, `options` takes HAProxy's PROXY protocol (see {@link ListenOptions}):
   * each connection's header is read before it is offered to `handleAccept()`, and `accept()`'s
   * `address` and the socket's peer are the client's from it. A bad, missing, untrusted or slow
   * header closes that connection and is reported (`onProxyError`, else `logInfo()` as a
   * warning), never to `handleError()`: the listener goes on.
   *
   * @param backlog The pending-connection queue length, given to the kernel too (default 511).
   * @param options The PROXY protocol options, checked before anything listens.
   * @throws {RangeError} If `backlog` is not a positive integer, or a PROXY option is out of range.
   * @throws {TypeError} If an option has the wrong type, or comes without `proxyProtocol`.
   *
   * @example
   * ```ts
   * server.bind({ host: '127.0.0.1', port: 0 });
   * await server.listen();
   * console.log(server.address()); // { host: '127.0.0.1', port: 40123 }
   * // behind HAProxy (`send-proxy-v2`) at 10.0.0.2:
   * // await server.listen(511, { proxyProtocol: 'v2', trustedProxies: ['10.0.0.2'] });
   * ```
   */
  async listen(backlog = 511, options?: ListenOptions): Promise<void> {
    validatePositiveInteger(backlog, 'backlog');
    const proxy = checkListenOptions(options);
    assertOpen(this, 'listen');
    const bound = this[kBound];
    if (bound === null) throw new InvalidStateError('Cannot listen(): call bind() first');
    if (this[kIo] !== null) {
      throw new InvalidStateError('Cannot listen(): the dispatcher already has a socket');
    }
    const listener = new Listener(backlog, listenerHooks(this, proxy));
    this[kIo] = listener;
    this[kLife] |= Life.HasListener;
    setState(this, State.Listening);
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
    assertOpen(this, 'connect');
    if (this[kIo] !== null) {
      throw new InvalidStateError('Cannot connect(): the dispatcher already has a socket');
    }
    attachTransport(this, connectSocket(checked, this[kBound]), 'connect');
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
    const listener = listenerOf(this);
    if (listener !== null) return listener.address();
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
  accept(): AcceptedConnection | null {
    return listenerOf(this)?.accept() ?? null;
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
    if (stateOf(this) === State.Closed) return 0;
    const transport = transportOf(this);
    if (transport === null)
      throw new InvalidStateError('Cannot send(): the dispatcher is not connected');
    if (transport.gone) {
      noticeClose(this);
      return 0;
    }
    return transport.write(bytes);
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
    if (stateOf(this) === State.Closed) return EMPTY;
    const transport = transportOf(this);
    if (transport === null)
      throw new InvalidStateError('Cannot recv(): the dispatcher is not connected');
    const chunk = transport.read(bufferSize);
    if (chunk !== null) return chunk;
    if (transport.ended && !hasFlag(this, Life.CloseHandled)) {
      this[kAtEof]();
      const delegate = this[kDelegate];
      if (delegate === null || !delegate.eof()) noticeClose(this);
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
    closeDispatcher(this, this[kLingerTimeout]);
  }

  /**
   * Ask the running loop of this dispatcher's map to check this dispatcher's predicates in its
   * next round (`map.wake()` asks every dispatcher). Only needed when `readable()` /
   * `writable()` change outside one of this dispatcher's own handlers (a timer, a promise,
   * another dispatcher's handler): rounds ask only the dispatchers that had an event of their
   * own or were ready in the last round (DESIGN: O(ready) rounds), and everyone once per
   * `timeout`.
   */
  wake(): void {
    this.map[kTouch](this);
  }

  // ---- loop protocol (internal) -------------------------------------------------------------

  /** @internal */
  [kReady](): boolean {
    return ready(this);
  }

  /** @internal */
  [kDispatch](): void {
    dispatch(this);
  }

  /** @internal Hook for subclasses of this package: runs before handleClose() at end-of-stream. */
  [kAtEof](): void {}

  /** @internal See `_internal.ts`. */
  [kRoundEnd](): void {}

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
    if (stateOf(this) === State.Closed || this[kRaised] !== null) return;
    this[kRaised] = { value: error };
    this.map[kTouch](this);
  }

  /** @internal See `_internal.ts`. */
  [kRequestClose](): void {
    if (stateOf(this) === State.Closed) return;
    this[kLife] = (this[kLife] & ~Life.PendingClose) | Life.CloseRequested;
    this.map[kTouch](this);
  }

  /** @internal The transport's Duplex had an event: ask this dispatcher in the next round. */
  [kTransportWake](): void {
    this.map[kTouch](this);
  }
}

// The default lingerTimeout, on the prototype: an instance holds its own only when given another
// (DESIGN's bytes per idle connection).
(Dispatcher.prototype as { [kLingerTimeout]: number })[kLingerTimeout] = DEFAULT_LINGER_TIMEOUT;
// Nothing bound, on the prototype too: bind() gives an instance its own.
Dispatcher.prototype[kBound] = null;
