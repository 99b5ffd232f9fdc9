// One client connection of the mixed server (internal): what the lifecycle core tracks (id,
// socket, remoteAddress, abort()), what the handler runner runs (start, close, report, refused,
// fail) and what the implementations are started for, in one object with its methods on the
// prototype: an idle connection keeps no closures of its own, its AbortController is made only
// when someone asks for its signal (see _lazy-controller.ts), and its RouteInfo only when a rule,
// an event or a report needs one.
//
// Its socket's 'close' reaches it through one listener shared by every connection (the
// connection found on the socket), from accept on; a modern primary on the socket itself tells
// it instead (its wire listens already), and that listener is removed (unwatchClose()).
import type net from 'node:net';
import type { Address } from '../address.js';
import type { HandlerRun } from '../_core/runner.js';
import type { CoreConnection } from '../_core/server-core.js';
import { LazyController } from './_lazy-controller.js';
import type {
  Implementation,
  PendingRoute,
  RouteDecision,
  RouteInfo,
  RouteTarget,
} from './_routing.js';
import type { Run, ShadowSession } from './_shadow.js';

/** What a connection needs from its server (one object per server, not per connection). */
export interface MixedHost {
  /**
   * Serves the connection with its chosen implementation; what it returns settles when the
   * primary is done (a modern primary's: when its handler is).
   */
  serve(connection: MixedConnection): Promise<void> | void;
  /** Closes a connection that was refused before it was served. */
  closeUnserved(connection: MixedConnection): void;
  /** Reports an error of the primary. */
  report(error: unknown, connection: MixedConnection): void;
  /** Counts a connection refused for want of a concurrency slot. */
  refused(): void;
  /** The connection's socket closed. */
  closed(connection: MixedConnection): void;
  /** Routing decided for the connection. */
  routed(connection: MixedConnection, decision: RouteDecision): void;
  /**
   * Whether `socket`'s 'close' reaches the connection without a listener of its own (the core's
   * listener tracks it and calls {@link socketClosedBy}).
   */
  tracksClose(socket: net.Socket): boolean;
}

const kConnection = Symbol('dispatch-bridge:mixed-connection');

type TaggedSocket = net.Socket & { [kConnection]?: MixedConnection | undefined };

// Every watched socket's 'close' listener: its connection is told.
function onSocketClose(this: TaggedSocket): void {
  this[kConnection]?.socketClosed();
}

/**
 * A socket the core tracks closed (see {@link MixedHost.tracksClose}): the connection watching
 * it, if one does, is told, as its own listener would.
 */
export function socketClosedBy(socket: net.Socket): void {
  (socket as TaggedSocket)[kConnection]?.socketClosed();
}

export class MixedConnection implements CoreConnection, HandlerRun, RouteTarget {
  readonly id: number;
  readonly remoteAddress: Address;
  readonly socket: net.Socket;
  /** The connection's abort: the primary's signal. */
  readonly lazy = new LazyController();
  /** Its routing while it is under way (a sniff). */
  routing: PendingRoute | undefined = undefined;
  /** What the route chose (set before the run starts). */
  implementation: Implementation | undefined = undefined;
  shadowKind: Implementation | undefined = undefined;
  primary: Run | undefined = undefined;
  shadow: ShadowSession | undefined = undefined;
  readonly #host: MixedHost;

  constructor(info: RouteInfo, socket: net.Socket, host: MixedHost) {
    this.id = info.id;
    this.remoteAddress = info.remoteAddress;
    this.socket = socket;
    this.#host = host;
  }

  /** What a routing rule, an event or a report is told about it (a new object each time). */
  get info(): RouteInfo {
    return { id: this.id, remoteAddress: this.remoteAddress };
  }

  /**
   * Listens to its socket's 'close' (until {@link unwatchClose}): through the core's listener
   * when the core tracks the socket (plain TCP), else with a shared listener of its own (TLS).
   * Idempotent.
   */
  watchClose(): void {
    const socket = this.socket as TaggedSocket;
    if (socket[kConnection] === this) return;
    socket[kConnection] = this;
    if (!this.#host.tracksClose(socket)) socket.on('close', onSocketClose);
  }

  /** Stops listening to its socket's 'close': something else calls {@link socketClosed}. */
  unwatchClose(): void {
    const socket = this.socket as TaggedSocket;
    if (socket[kConnection] !== this) return;
    // Assigned, not deleted: the socket keeps its shape. (off() of a listener never added, when
    // the core tells of the close, changes nothing.)
    socket[kConnection] = undefined;
    socket.off('close', onSocketClose);
  }

  /** The runner's controller (made now if nobody asked before). */
  get controller(): AbortController {
    return this.lazy.controller;
  }

  /** Stops it now (a forced shutdown, an idle timeout): handlers stopped, the socket destroyed. */
  abort(reason: unknown): void {
    this.routing?.cancel();
    this.lazy.abort(reason);
    this.primary?.stop(reason);
    this.shadow?.stopPrimary(reason);
    this.shadow?.drop('shutdown', reason);
    this.socket.destroy();
  }

  start(): Promise<void> | void {
    return this.#host.serve(this);
  }

  // The run is over: a primary run by this runner (a modern handler on the socket) closes the
  // connection gracefully; refused before it was served (no slot in time, shut down), the socket
  // closes; the other implementations close themselves.
  close(): void {
    const primary = this.primary;
    if (primary !== undefined) primary.done?.();
    else if (this.shadow === undefined) this.#host.closeUnserved(this);
  }

  report(error: unknown): void {
    this.#host.report(error, this);
  }

  /** Routing decided (see Router.route()). */
  routed(decision: RouteDecision): void {
    this.routing = undefined;
    this.#host.routed(this, decision);
  }

  refused(): void {
    this.#host.refused();
  }

  /** Its socket closed (the socket's 'close' event). */
  socketClosed(): void {
    this.#host.closed(this);
  }

  fail(reason: unknown): void {
    this.abort(reason);
  }
}
