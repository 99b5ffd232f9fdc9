// The public types of the mixed server (re-exported by mixed-server.ts): its options, events and
// figures.
import type { ServerOptions, StreamHandler } from '../modern/server.js';
import type { ConnectionStats } from '../_core/stats.js';
import type { LegacyHandlerClass } from './handlers.js';
import type { Implementation, RouteInfo, RouteRule } from './_routing.js';
import type { DivergenceReport, ShadowDropReport, ShadowOptions } from './_shadow.js';
import type { Upstream } from './upstream.js';

/**
 * Options of {@link startMixedServer}. Give `port` (and `host`) for TCP, or `path`. The options
 * it shares with `startServer` (`port`, `path`, `tls`, `backlog`, `limit`, `queueTimeout`,
 * `handshakeTimeout`, `lingerTimeout`, `proxyProtocol`, `trustedProxies`) mean the same here.
 */
export interface MixedServerOptions extends Omit<
  ServerOptions,
  'host' | 'onError' | 'maxConnections' | 'concurrency' | 'idleTimeout'
> {
  /**
   * The legacy handler class, or an {@link Upstream} (the server that runs today, in another
   * process: connections routed here are proxied to it).
   */
  legacy: LegacyHandlerClass | Upstream;
  /**
   * The modern handler, run as `startServer` runs it (the connection closes when it returns), or
   * an {@link Upstream}.
   */
  modern: StreamHandler | Upstream;
  /** How each connection is routed. */
  route: RouteRule;
  /** Shadow mode (`true` for the defaults of {@link ShadowOptions}). @default false */
  shadow?: boolean | ShadowOptions | undefined;
  /**
   * Address(es) to listen on; several (e.g. `['127.0.0.1', '::1']`) share one port, as asyncio's
   * `start_server(host=[...])`. @default all interfaces
   */
  host?: string | readonly string[] | undefined;
  /**
   * Connections beyond this many open at once (closing ones still lingering included) are
   * closed as soon as they are accepted, whichever implementation would serve them.
   */
  maxConnections?: number | undefined;
  /**
   * At most this many connections are served at once, of both kinds (a legacy dispatcher holds
   * its slot until it closes); later ones wait their turn, their input under flow control. A
   * slot is freed as soon as its connection is gone.
   */
  concurrency?: number | undefined;
  /**
   * A connection without traffic for this many ms while it is served is closed (modern: its
   * signal is aborted with a `TimeoutError`; legacy: the dispatcher sees the connection go). The
   * clock starts when it is routed and served, not while it waits for a `concurrency` slot.
   */
  idleTimeout?: number | undefined;
  /**
   * Called (as well as the `'error'` event) for every error of a connection: a rule, a handler
   * or a shadow that failed. One that throws is ignored.
   */
  onError?: ((error: unknown, info: MixedErrorInfo) => void) | undefined;
  /** The legacy loop's `timeout` (ms between predicate checks when nothing happens). @default 30000 */
  loopTimeout?: number | undefined;
}

/** The `'route'` event: a connection was routed. */
export interface RouteEvent extends RouteInfo {
  /** The implementation that serves the client. */
  readonly implementation: Implementation;
  /** The implementation that runs as a shadow, if shadow mode is on. */
  readonly shadow: Implementation | undefined;
}

/** Which part of a connection an `'error'` comes from. */
export type ErrorRole = 'route' | 'primary' | 'shadow';

/** The second argument of the `'error'` event (absent for errors of the listening socket). */
export interface MixedErrorInfo extends RouteInfo {
  /** The part that failed: the routing rule, the primary or the shadow. */
  readonly role: ErrorRole;
  /** The implementation that failed (undefined for the routing rule). */
  readonly implementation: Implementation | undefined;
}

/** The events of {@link MixedServer}. */
export interface MixedServerEvents {
  /** A connection was routed (after sniffing, if any). */
  route: [event: RouteEvent];
  /** A handler, a rule or the listener failed; only the connection concerned is closed. */
  error: [error: unknown, info: MixedErrorInfo | undefined];
  /** Shadow mode: the outputs differ (at most once per connection; the shadow then stops). */
  divergence: [report: DivergenceReport];
  /** Shadow mode: a shadow was stopped before its output could be compared to the end. */
  shadowDropped: [report: ShadowDropReport];
  /** The server stopped listening and every connection (and shadow) has closed. */
  close: [];
}

/** The counters of one implementation of a mixed server. */
export interface ImplementationStats {
  /** Connections routed to it (as primary). */
  routed: number;
  /** Its handler errors. */
  handlerErrors: number;
}

/** What {@link MixedServer.stats} returns. */
export interface MixedServerStats extends ConnectionStats {
  /** Connections routed to the legacy class (as primary), and its handler errors. */
  legacy: ImplementationStats;
  /** Connections routed to the modern handler (as primary), and its handler errors. */
  modern: ImplementationStats;
  /** Shadow mode: connections whose outputs differed. */
  divergences: number;
  /** Shadow mode: shadows stopped before the end of the comparison. */
  shadowDrops: number;
}
