import { EventEmitter } from 'eventemitter3';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { toAddress, validateAddress, type Address } from './_address.js';
import { EMPTY, describeValue, toBuffer, validatePositiveInteger } from './_bytes.js';
import { kAdd, kAtEof, kDelete, kDispatch, kReady } from './_internal.js';
import { socketMap, type SocketMap } from './socket-map.js';

export type { Address } from './_address.js';

/** The `type` of {@link Dispatcher.logInfo}. */
export type LogType = 'info' | 'warning' | 'error';

// The least number of accepted connections a listener lets wait for accept() (see listen()).
const MIN_ACCEPT_QUEUE = 511;

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

function isDisconnect(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  return typeof error.code === 'string' && DISCONNECTED.has(error.code);
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

const DEFAULT_IGNORED_LOG_TYPES: ReadonlySet<LogType> = new Set<LogType>(['warning']);

const swallow = (): void => {};

/**
 * Base class for callback-style socket handlers: asyncore's `dispatcher`, over any `stream.Duplex`.
 *
 * Subclass it and override the `handle*()` methods; a `loop()` on the dispatcher's map calls them.
 * Callback order:
 *
 * ```
 * client:    connect() -> handleConnect -> (handleRead | handleWrite)* -> handleClose -> closed
 * server:    bind() + listen() -> handleAccept* (-> handleAccepted) -> closed by close()
 * accepted:  new Dispatcher({ socket }) -> (handleRead | handleWrite)* -> handleClose -> closed
 * ```
 *
 * - Handlers run only inside a `loop()` on {@link map}, one dispatcher at a time.
 * - `handleRead()` is called when `readable()` is true and bytes, end-of-stream or a pending
 *   close are there; `handleWrite()` when `writable()` is true and the transport is not congested.
 *   While `readable()` is false nothing is read: the transport's buffer fills up, Node stops
 *   reading the socket and TCP pushes back on the peer.
 * - `handleClose()` runs exactly once per dispatcher: when the connection ends (peer
 *   end-of-stream, reset, an error), or else on the first `close()`, which calls it before
 *   closing (so cleanup in `handleClose()` always runs, `closeAll()` included). After `close()`
 *   no handler runs again.
 * - An exception in any handler (or predicate, or event listener) goes to `handleError()` of this
 *   dispatcher only (default: log it and close). Disconnect errors (ECONNRESET, EPIPE, ...) are a
 *   `handleClose()`, never `handleError()`.
 * - Each handler call is followed by the event of the same name (`'read'`, `'write'`, `'connect'`,
 *   `'accept'`, `'close'`, `'error'`), for listener-style observers.
 * - The once-only guard is installed by the constructor around the (subclass's) `handleClose`
 *   method: override it as a method, not as an arrow-function class field, and do not reassign
 *   it on an instance.
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
  /** True once the transport is connected (before `handleConnect()` runs). */
  connected = false;
  /** True while listening (after `listen()`). */
  accepting = false;
  /** True between `connect()` and the connect event. */
  connecting = false;
  /** Log types `logInfo()` ignores; asyncore ignores `'warning'` by default. */
  ignoreLogTypes: ReadonlySet<LogType> = DEFAULT_IGNORED_LOG_TYPES;
  /** The map this dispatcher belongs to while open. */
  readonly map: SocketMap;

  #transport: Duplex | null = null;
  #server: net.Server | null = null;
  // Accepted sockets not yet taken by accept(); each carries the `swallow` error listener.
  #pending: net.Socket[] = [];
  // How many accepted connections may wait for accept(): max(listen()'s backlog, 511).
  #acceptQueueLimit = MIN_ACCEPT_QUEUE;
  #bound: Address | null = null;
  #reuseAddr = false;
  #closed = false;
  // Set when handleClose() has started: the guard that makes it run at most once.
  #closeHandled = false;
  // A transport error waiting for the next round (the first one only; later ones are noise).
  #errored = false;
  #error: unknown = undefined;
  // The transport's 'end' was seen: end-of-stream with nothing left buffered.
  #eof = false;
  // The transport is closed (it emitted 'close', or was already closed when we got it).
  #transportClosed = false;
  // The transport emitted 'close' while we listened: only then may our 'error' listener go.
  #closeEmitted = false;
  // The connect (or TLS secureConnect) event arrived and handleConnect() is due.
  #connectDone = false;
  #connectEvent: 'connect' | 'secureConnect' | null = null;

  constructor(options: DispatcherOptions = {}) {
    super();
    this.map = options.map ?? socketMap;
    // Guard handleClose(), whatever subclass overrides it: exactly once, never after close().
    const handleClose = this.handleClose.bind(this);
    this.handleClose = (): void => {
      if (this.#closeHandled || this.#closed) return;
      this.#closeHandled = true;
      try {
        handleClose();
      } catch (error) {
        this.close();
        throw error;
      }
      this.emit('close');
    };
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
        this.connecting = true;
        this.#attach(socket, socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect');
      } else {
        this.connected = true;
        this.#attach(socket, null);
      }
    }
  }

  /** The transport, or null (not connected yet, listening, or never given one). */
  get socket(): Duplex | null {
    return this.#transport;
  }

  /** The listening `net.Server` after `listen()`, else null. */
  get server(): net.Server | null {
    return this.#server;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
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
   * The floor of 511 is there for the `listen(5)` of many asyncore servers: with the kernel's
   * queue, clients beyond 5 were slowed down and retried; here they would be refused, so such a
   * backlog queues 511 like Node's default.
   * If listening fails (e.g. `EADDRINUSE`) the promise rejects and the dispatcher is closed.
   *
   * @param backlog The pending-connection queue length, given to the kernel too (default 511,
   * Node's).
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
    if (this.#transport !== null || this.#server !== null) {
      throw new Error('Cannot listen(): the dispatcher already has a socket');
    }
    // allowHalfOpen: like a kernel socket, end-of-stream from the peer does not end our side;
    // the dispatcher decides (asyncore: recv() returns b'' -> handleClose()).
    const server = net.createServer({ allowHalfOpen: true });
    this.#server = server;
    this.#acceptQueueLimit = Math.max(backlog, MIN_ACCEPT_QUEUE);
    this.accepting = true;
    server.on('connection', this.#onConnection);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        const options =
          'path' in bound
            ? { path: bound.path, backlog }
            : { host: bound.host === '' ? undefined : bound.host, port: bound.port, backlog };
        server.listen(options, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
    } catch (error) {
      server.removeListener('connection', this.#onConnection);
      this.close();
      throw error;
    }
    server.on('error', this.#onError);
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
    if (this.#transport !== null || this.#server !== null) {
      throw new Error('Cannot connect(): the dispatcher already has a socket');
    }
    const bound = this.#bound;
    const socket =
      'path' in checked
        ? net.connect({ path: checked.path, allowHalfOpen: true })
        : net.connect({
            host: checked.host === '' ? 'localhost' : checked.host,
            port: checked.port,
            allowHalfOpen: true,
            ...(bound !== null && 'host' in bound
              ? { localAddress: bound.host || undefined, localPort: bound.port || undefined }
              : {}),
          });
    this.connected = false;
    this.connecting = true;
    this.#attach(socket, 'connect');
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
    if (this.#server !== null) return toAddress(this.#server.address());
    const transport = this.#transport as Partial<net.Socket> | null;
    if (transport !== null && typeof transport.address === 'function') {
      return toAddress(transport.address());
    }
    return null;
  }

  /**
   * Take the next pending connection of a listening dispatcher (call it from `handleAccept()`),
   * or null when there is none. Wrap the socket in a dispatcher at once: until then nothing
   * listens for its errors.
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
    const socket = this.#pending.shift();
    if (socket === undefined) return null;
    socket.removeListener('error', swallow);
    const address: Address =
      socket.remoteAddress !== undefined && socket.remotePort !== undefined
        ? { host: socket.remoteAddress, port: socket.remotePort }
        : { path: '' };
    return { socket, address };
  }

  // ---- I/O ---------------------------------------------------------------------------------

  /**
   * Send bytes like a non-blocking socket: returns how many the transport took, which may be
   * fewer than given, and 0 when it is congested. The transport's `writableHighWaterMark` plays
   * the kernel send buffer. Strings are encoded as UTF-8. As with `socket.write()`, do not modify
   * a sent Uint8Array afterwards. On a closed dispatcher it returns 0; if the connection is gone
   * it calls `handleClose()` and returns 0 (asyncore: a disconnect is a close, not a crash).
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
    if (this.#closed) return 0;
    const transport = this.#transport;
    if (transport === null) throw new Error('Cannot send(): the dispatcher is not connected');
    if (transport.destroyed || transport.writableEnded || this.#transportClosed) {
      this.handleClose();
      return 0;
    }
    if (transport.writableNeedDrain || bytes.length === 0) return 0;
    const room = transport.writableHighWaterMark - transport.writableLength;
    if (room <= 0) return 0;
    if (bytes.length <= room) {
      transport.write(bytes);
      return bytes.length;
    }
    transport.write(bytes.subarray(0, room));
    return room;
  }

  /**
   * Receive up to `bufferSize` bytes of what is buffered. At end-of-stream (or when the
   * transport closed) it returns an empty Buffer and calls `handleClose()` (asyncore rule).
   * It also returns an empty Buffer when nothing is buffered yet, and after `close()`.
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
    if (this.#closed) return EMPTY;
    const transport = this.#transport;
    if (transport === null) throw new Error('Cannot recv(): the dispatcher is not connected');
    const available = transport.readableLength;
    if (available > 0 && !transport.destroyed) {
      const chunk = transport.read(
        available < bufferSize ? available : bufferSize,
      ) as Buffer | null;
      // Reading the buffer empty does not surface a pending end-of-stream; read(0) does.
      if (transport.readableLength === 0) transport.read(0);
      if (chunk !== null) return chunk;
    }
    if (this.#eof || this.#transportClosed || transport.destroyed) {
      this[kAtEof]();
      this.handleClose();
    }
    return EMPTY;
  }

  /**
   * Close the dispatcher: it leaves its map and no handler of it runs again. A connection is
   * closed gracefully (what was sent is still delivered, then end-of-stream); a listener stops
   * listening and drops the connections it had not accepted. Calling it twice is harmless.
   * If `handleClose()` has not run yet, `close()` runs it first (that is how `handleClose()` runs
   * exactly once per dispatcher); an exception from it is logged, and the dispatcher closes anyway.
   *
   * @example
   * ```ts
   * override handleClose() { this.log('bye'); this.close(); }
   * ```
   */
  close(): void {
    if (this.#closed) return;
    if (!this.#closeHandled) {
      try {
        this.handleClose(); // the default handleClose() calls close(): the guard ends the recursion
      } catch (error) {
        this.#log(`Error in handleClose(), closing: ${describeError(error)}`);
      }
      if (this.#closed) return;
    }
    this.#closed = true;
    this.connected = false;
    this.accepting = false;
    this.connecting = false;
    this.#errored = false;
    this.#error = undefined;
    this.map[kDelete](this);
    const server = this.#server;
    if (server !== null) {
      server.removeListener('connection', this.#onConnection);
      server.removeListener('error', this.#onError);
      server.on('error', swallow);
      server.close(() => server.removeListener('error', swallow));
      for (const socket of this.#pending.splice(0)) socket.destroy();
    }
    const transport = this.#transport;
    if (transport !== null) this.#release(transport);
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

  /** The connection ended, or `close()` was called (runs exactly once). Default: `close()`. */
  handleClose(): void {
    this.close();
  }

  /**
   * A handler threw, or the transport failed with a non-disconnect error (e.g. ECONNREFUSED).
   * Default: `logInfo()` the error as `'error'`, then `handleClose()` and `close()`.
   */
  handleError(error: unknown): void {
    this.logInfo(`Uncaptured error, closing the dispatcher: ${describeError(error)}`, 'error');
    this.handleClose();
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
    if (this.#closed) return false;
    try {
      if (this.#errored || this.#transportClosed) return this.readable() || this.writable();
      if (this.accepting) return this.#pending.length > 0 && this.readable();
      if (this.connecting) return this.#connectDone && (this.readable() || this.writable());
      const transport = this.#transport;
      if (transport === null) return false;
      if ((transport.readableLength > 0 || this.#eof) && this.readable()) return true;
      return this.connected && !transport.writableNeedDrain && this.writable();
    } catch (error) {
      this.#fail(error);
      return false;
    }
  }

  /** @internal */
  [kDispatch](): void {
    if (this.#closed) return;
    try {
      if (this.#errored) {
        const error = this.#error;
        this.#errored = false;
        this.#error = undefined;
        if (isDisconnect(error)) this.handleClose();
        else this.#fail(error);
        return;
      }
      if (this.accepting) {
        if (this.#pending.length > 0 && this.readable()) {
          this.handleAccept();
          this.emit('accept');
        }
        return;
      }
      if (this.connecting) {
        if (!this.#connectDone) return;
        this.connecting = false;
        this.connected = true;
        this.handleConnect();
        this.emit('connect');
        if (this.#closed) return;
      }
      const transport = this.#transport;
      if (transport === null) return;
      if ((transport.readableLength > 0 || this.#eof || this.#transportClosed) && this.readable()) {
        this.handleRead();
        this.emit('read');
        if (this.#closed) return;
      }
      if (
        this.connected &&
        (!transport.writableNeedDrain || this.#transportClosed) &&
        this.writable()
      ) {
        this.handleWrite();
        this.emit('write');
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /** @internal Hook for subclasses of this package: runs before handleClose() at end-of-stream. */
  [kAtEof](): void {}

  // ---- private -----------------------------------------------------------------------------

  #fail(error: unknown): void {
    if (this.#closed) {
      // No handler runs after close(): an error raised while closing is only logged.
      this.#log(`Error after close(): ${describeError(error)}`);
      return;
    }
    try {
      this.handleError(error);
      this.emit('error', error);
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
    if (this.#closed) throw new Error(`Cannot ${method}(): the dispatcher is closed`);
  }

  #attach(transport: Duplex, connectEvent: 'connect' | 'secureConnect' | null): void {
    this.#transport = transport;
    this.#connectEvent = connectEvent;
    transport.on('error', this.#onError);
    transport.on('close', this.#onClose);
    transport.on('end', this.#onEnd);
    transport.on('drain', this.#onDrain);
    if (connectEvent !== null) transport.on(connectEvent, this.#onConnect);
    // Paused mode: the 'readable' listener makes Node buffer up to the high-water mark and stop.
    transport.on('readable', this.#onReadable);
    // A socket that closed before we got it (e.g. reset while waiting in the accept queue).
    if (transport.destroyed && transport.closed) this.#transportClosed = true;
    this.map[kAdd](this);
  }

  #release(transport: Duplex): void {
    transport.removeListener('end', this.#onEnd);
    transport.removeListener('drain', this.#onDrain);
    transport.removeListener('readable', this.#onReadable);
    if (this.#connectEvent !== null) transport.removeListener(this.#connectEvent, this.#onConnect);
    // The 'error' and 'close' listeners stay until the transport has emitted 'close' (note that
    // `transport.closed` turns true before the pending 'error' and 'close' events are emitted).
    if (this.#closeEmitted) {
      this.#detach(transport);
      return;
    }
    if (transport.destroyed) return;
    if (transport.writableFinished) {
      transport.destroy();
    } else {
      transport.once('finish', this.#onFinish);
      if (!transport.writableEnded) transport.end();
    }
  }

  #detach(transport: Duplex): void {
    transport.removeListener('error', this.#onError);
    transport.removeListener('close', this.#onClose);
    transport.removeListener('finish', this.#onFinish);
  }

  #onReadable = (): void => {
    const transport = this.#transport;
    // At end-of-stream with nothing buffered, read(0) makes the stream emit 'end'.
    if (transport !== null && transport.readableLength === 0) transport.read(0);
    this.map.wake();
  };

  #onEnd = (): void => {
    this.#eof = true;
    this.map.wake();
  };

  #onDrain = (): void => {
    this.map.wake();
  };

  #onConnect = (): void => {
    this.#connectDone = true;
    this.map.wake();
  };

  #onError = (error: unknown): void => {
    if (!this.#closed && !this.#errored) {
      this.#errored = true;
      this.#error = error;
      this.map.wake();
    }
  };

  #onClose = (): void => {
    this.#transportClosed = true;
    this.#closeEmitted = true;
    const transport = this.#transport;
    if (this.#closed) {
      if (transport !== null) this.#detach(transport);
      return;
    }
    this.map.wake();
  };

  #onFinish = (): void => {
    this.#transport?.destroy();
  };

  #onConnection = (socket: net.Socket): void => {
    if (this.#pending.length >= this.#acceptQueueLimit) {
      // The queue is full: refuse, as a full kernel backlog would, rather than grow without end.
      socket.destroy();
      return;
    }
    socket.on('error', swallow);
    this.#pending.push(socket);
    this.map.wake();
  };
}
