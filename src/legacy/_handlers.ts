// The overridable side of a Dispatcher (internal file; everything here is public through
// Dispatcher): its events, its default predicates and handlers (asyncore's), and logInfo().
import { EventEmitter } from 'eventemitter3';
import type { Duplex } from 'node:stream';
import type { Address } from './_address.js';
import { channels, publish } from '../_core/observe.js';
import {
  kDelegate,
  kQueued,
  kSlowHandlerMs,
  kStats,
  type DispatcherDelegate,
} from './_internal.js';
import type { SocketMap } from './socket-map.js';
import { DEFAULT_MAX_OUTGOING } from './_connect.js';

// The one dispatch path, shared with dispatcher.ts (not exported from any barrel).
export const kCall: unique symbol = Symbol('dispatch-bridge.call');
/** The events of the dispatch path: each one's handler runs, then the event is emitted. */
export type HandlerEvent = 'read' | 'write' | 'connect' | 'accept';
export const kCanRead: unique symbol = Symbol('dispatch-bridge.canRead');
export const kCanWrite: unique symbol = Symbol('dispatch-bridge.canWrite');
export const kFail: unique symbol = Symbol('dispatch-bridge.fail');
export const kLog: unique symbol = Symbol('dispatch-bridge.log');
/** The connection's id in the debug log and the channels' messages (0: not a connection yet). */
export const kId: unique symbol = Symbol('dispatch-bridge.id');
/** The most output bytes queued beyond the transport before reading stops (`maxOutgoing`). */
const kMaxOutgoing: unique symbol = Symbol('dispatch-bridge.maxOutgoing');

/** The `type` of {@link Dispatcher.logInfo}. */
export type LogType = 'info' | 'warning' | 'error';

/** Events of a {@link Dispatcher}; each is emitted right after the handler of the same name ran. */
export interface DispatcherEvents {
  /** After `handleConnect()`. */
  connect: [];
  /** After `handleAccept()`. */
  accept: [];
  /** After `handleRead()`. */
  read: [];
  /** After `handleWrite()`. */
  write: [];
  /** Once, at the end of `close()`, however the dispatcher closed. */
  close: [];
  /** After `handleError()`, with the error. */
  error: [error: unknown];
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

const DEFAULT_IGNORED_LOG_TYPES: ReadonlySet<LogType> = new Set<LogType>(['warning']);

/**
 * The predicates, handlers and logging every {@link Dispatcher} has, with asyncore's defaults.
 * Override them in a Dispatcher subclass (as methods or arrow-function fields); the loop calls
 * them through the dispatcher's one dispatch path.
 *
 * @example
 * ```ts
 * class Quiet extends Dispatcher { override logInfo() {} }
 * ```
 */
export abstract class DispatcherHandlers extends EventEmitter<DispatcherEvents> {
  // These two default on the prototype (see below the class): an instance holds its own only
  // once it is assigned (DESIGN's bytes per idle connection). So does kMaxOutgoing.
  /** Log types `logInfo()` ignores; asyncore ignores `'warning'` by default. Assignable. */
  declare ignoreLogTypes: ReadonlySet<LogType>;
  /** @internal The stream bridge's delegate (see `_internal.ts`), or null. */
  declare [kDelegate]: DispatcherDelegate | null;
  /** @internal See {@link kId}. */
  [kId] = 0;
  /** The map this dispatcher belongs to while open. */
  abstract readonly map: SocketMap;

  /** @internal The `maxOutgoing` option; own only when it is not the default (see below). */
  declare readonly [kMaxOutgoing]: number;

  constructor(maxOutgoing: number) {
    super();
    if (maxOutgoing !== DEFAULT_MAX_OUTGOING) this[kMaxOutgoing] = maxOutgoing;
  }

  /** True after `close()`. */
  abstract get closed(): boolean;
  /** See `Dispatcher.accept()`. */
  abstract accept(): { socket: Duplex; address: Address } | null;
  /** See `Dispatcher.close()`. */
  abstract close(): void;
  /** @internal Bytes queued beyond the transport (DispatcherWithSend, AsyncChat). */
  abstract [kQueued](): number;

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
    this.logInfo('unhandled connect event', 'warning');
  }

  /** A connection is pending: default takes it with `accept()` and calls `handleAccepted()`. */
  handleAccept(): void {
    const pair = this.accept();
    if (pair !== null) this.handleAccepted(pair.socket, pair.address);
  }

  /**
   * A connection was accepted from `address` (the peer). Default: logs a warning and closes the
   * socket (asyncore).
   */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the parameter is the API
  handleAccepted(socket: Duplex, address: Address): void {
    this.logInfo('unhandled accepted event', 'warning');
    socket.destroy();
  }

  /** Bytes or end-of-stream are there: call `recv()`. Default: logs a warning. */
  handleRead(): void {
    this.logInfo('unhandled read event', 'warning');
  }

  /** The transport can take more bytes: call `send()`. Default: logs a warning. */
  handleWrite(): void {
    this.logInfo('unhandled write event', 'warning');
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

  // ---- the one dispatch path: never after close, the event after the handler, errors to
  // handleError() (through the delegate when one is installed) ----------------------------------

  // Runs one handler, then its event; an exception goes to handleError(). False once closed.
  /** @internal */
  [kCall](event: HandlerEvent): boolean {
    const slow = this.map[kSlowHandlerMs];
    const started = slow === undefined ? 0 : performance.now();
    try {
      run(this, event);
      this.emit(event);
    } catch (error) {
      this[kFail](error);
    }
    if (slow !== undefined) {
      const ms = performance.now() - started;
      if (ms > slow) reportSlow(this, event, ms);
    }
    return !this.closed;
  }

  /** @internal */
  [kCanRead](): boolean {
    if (this[kQueued]() > this[kMaxOutgoing]) return false;
    const delegate = this[kDelegate];
    return delegate === null ? this.readable() : delegate.readable();
  }

  /** @internal */
  [kCanWrite](): boolean {
    const delegate = this[kDelegate];
    return delegate === null ? this.writable() : delegate.writable();
  }

  /** @internal */
  [kFail](error: unknown): void {
    if (this.closed) {
      // No handler runs after close(): an error raised while closing is only logged.
      this[kLog](`Error after close(): ${describeError(error)}`);
      return;
    }
    this.map[kStats].handlerErrors++;
    publish(channels.handlerError, 'handler-error', { id: this[kId], layer: 'legacy', error });
    const handle = (): void => {
      this.handleError(error);
      this.emit('error', error);
    };
    try {
      const delegate = this[kDelegate];
      if (delegate === null) handle();
      else delegate.error(error, handle);
    } catch (second) {
      this[kLog](`Error in handleError(), closing: ${describeError(second)}`);
      this.close();
    }
  }

  /** @internal */
  [kLog](message: string): void {
    try {
      this.logInfo(message, 'error');
    } catch {
      // A logger that throws must not take the loop down.
    }
  }
}

DispatcherHandlers.prototype.ignoreLogTypes = DEFAULT_IGNORED_LOG_TYPES;
DispatcherHandlers.prototype[kDelegate] = null;
(DispatcherHandlers.prototype as { [kMaxOutgoing]: number })[kMaxOutgoing] = DEFAULT_MAX_OUTGOING;

// Module functions, not private methods: a class that declares `#private()` methods gives each of
// its instances a brand slot (DESIGN's bytes per idle connection).

function reportSlow(d: DispatcherHandlers, event: string, ms: number): void {
  const handler = `handle${event[0]!.toUpperCase()}${event.slice(1)}`;
  const name = d.constructor.name;
  publish(channels.slowHandler, 'slow-handler', {
    id: d[kId],
    layer: 'legacy',
    dispatcher: name,
    handler,
    ms,
  });
  try {
    d.logInfo(`slow handler: ${name}.${handler}() took ${ms.toFixed(1)} ms`, 'warning');
  } catch {
    // A logger that throws must not take the loop down.
  }
}

// The handler of `event`: the stream bridge's for read and write when one is installed.
function run(d: DispatcherHandlers, event: HandlerEvent): void {
  switch (event) {
    case 'read': {
      const delegate = d[kDelegate];
      if (delegate === null) d.handleRead();
      else delegate.handleRead();
      return;
    }
    case 'write': {
      const delegate = d[kDelegate];
      if (delegate === null) d.handleWrite();
      else delegate.handleWrite();
      return;
    }
    case 'connect':
      d.handleConnect();
      return;
    case 'accept':
      d.handleAccept();
      return;
  }
}
