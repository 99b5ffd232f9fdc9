// The options of Dispatcher.listen() (internal): checked once, before anything listens, with a
// TypeError/RangeError that names the option.
import { DEFAULT_HANDSHAKE_TIMEOUT } from '../_core/server-options.js';
import { ProxyHeaderReader } from '../_proxy-protocol.js';
import type { ProxyProtocolError } from '../errors.js';
import { describeValue } from './_bytes.js';
import { describeError, kLog, type LogType } from './_handlers.js';
import { InvalidArgumentError } from '../errors.js';
import type { Dispatcher } from './dispatcher.js';
import { kRaise, kStats, kTouch } from './_internal.js';
import type { ListenerHooks } from './_listener.js';

/**
 * The second argument of `Dispatcher.listen()`: a listener behind a load balancer that speaks
 * HAProxy's PROXY protocol.
 *
 * With `proxyProtocol`, each connection's header is read before the connection is offered to
 * `handleAccept()`: `accept()`'s `address`, the accepted socket's `remoteAddress`/`remotePort`
 * (and so a bridged writer's `getExtraInfo('peername')`) are the client's from the header, and
 * the bytes after it are the connection's first. A `LOCAL` header (a balancer's health check)
 * is closed and never offered. A bad, missing, untrusted (not in `trustedProxies`) or too slow
 * (`headerTimeout`) header closes that connection, counts as `refused` in the map's `stats()`,
 * and is reported to `onProxyError` with a `ProxyProtocolError` (`ERR_DB_PROXY_HEADER`,
 * `ERR_DB_PROXY_UNTRUSTED`, `ERR_DB_PROXY_TIMEOUT`), or else through the listening dispatcher's
 * `logInfo(message, 'warning')` (dropped by default, as asyncore drops warnings). It never
 * reaches `handleError()`: one bad peer does not close the listener. Connections still sending
 * their header count against the accept queue's bound (`backlog`, at least 511), and `close()`
 * destroys them.
 *
 * @example
 * ```ts
 * server.bind({ host: '0.0.0.0', port: 7000 });
 * await server.listen(511, {
 *   proxyProtocol: 'v2',
 *   trustedProxies: ['10.0.0.2'],
 *   onProxyError: (error) => console.warn(error.code, error.peer),
 * });
 * ```
 */
export interface ListenOptions {
  /**
   * Each connection starts with a PROXY protocol header (`'v1'` text, `'v2'` binary, or
   * `'any'`), read before the connection is offered to `handleAccept()`: `accept()`'s `address`
   * and the socket's `remoteAddress`/`remotePort` are the client's from the header. A `LOCAL`
   * header (a health check) is closed and never offered. Default: no header.
   */
  proxyProtocol?: 'v1' | 'v2' | 'any' | undefined;
  /**
   * With `proxyProtocol`: the peers allowed to send the header, as addresses or CIDR ranges
   * (IPv4, IPv6) and `'unix'`. Default: loopback (and Unix-socket peers).
   */
  trustedProxies?: readonly string[] | undefined;
  /** With `proxyProtocol`: how long a connection may take to send its header, in ms (default 10000). */
  headerTimeout?: number | undefined;
  /**
   * With `proxyProtocol`: called with the {@link ProxyProtocolError} of each connection closed
   * for a bad, missing, untrusted or too slow header. Default: the listening dispatcher's
   * `logInfo(message, 'warning')`.
   */
  onProxyError?: ((error: ProxyProtocolError) => void) | undefined;
}

/** What the listener takes from checked {@link ListenOptions}. */
export interface ListenProxy {
  reader: ProxyHeaderReader;
  onProxyError: ((error: ProxyProtocolError) => void) | undefined;
}

/** Checks `listen()`'s options; undefined when no PROXY header is expected. */
export function checkListenOptions(options: unknown): ListenProxy | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(
      `Expected \`options\` of listen() to be an object, got \`${describeValue(options)}\` (${options === null ? 'null' : typeof options})`,
    );
  }
  const { proxyProtocol, trustedProxies, headerTimeout, onProxyError } = options as ListenOptions;
  if (onProxyError !== undefined && typeof onProxyError !== 'function') {
    throw new InvalidArgumentError(
      `Expected \`onProxyError\` to be a function, got \`${describeValue(onProxyError)}\` (${typeof onProxyError})`,
    );
  }
  if (proxyProtocol === undefined) {
    for (const [name, value] of [
      ['trustedProxies', trustedProxies],
      ['headerTimeout', headerTimeout],
      ['onProxyError', onProxyError],
    ] as const) {
      if (value !== undefined)
        throw new InvalidArgumentError(`Expected \`${name}\` only with \`proxyProtocol\``);
    }
    return undefined;
  }
  const reader = new ProxyHeaderReader(
    { version: proxyProtocol, trustedProxies, timeout: headerTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT },
    { version: 'proxyProtocol', timeout: 'headerTimeout' },
  );
  return { reader, onProxyError };
}

/** The listening dispatcher as {@link proxyErrorReporter} uses it. */
interface Reporter {
  readonly closed: boolean;
  logInfo(message: string, type?: LogType): void;
  [kLog](message: string): void;
}

/**
 * How a listening dispatcher reports a connection closed for its PROXY header: `onProxyError`,
 * or else `logInfo(…, 'warning')`; nothing once the dispatcher is closed. Never throws.
 */
export function proxyErrorReporter(
  dispatcher: Reporter,
  onProxyError: ((error: ProxyProtocolError) => void) | undefined,
): (error: ProxyProtocolError) => void {
  return (error) => {
    if (dispatcher.closed) return;
    try {
      if (onProxyError !== undefined) onProxyError(error);
      else {
        dispatcher.logInfo(
          `PROXY protocol (${error.code}), connection closed: ${error.message}`,
          'warning',
        );
      }
    } catch (thrown) {
      dispatcher[kLog](`Error in onProxyError: ${describeError(thrown)}`);
    }
  };
}

/**
 * The hooks of a listening dispatcher's Listener: a pending connection asks the dispatcher in the
 * next round, its server's errors reach handleError() there, refusals count in the map's stats,
 * and the PROXY header's failures are reported (never to handleError()).
 */
export function listenerHooks(
  dispatcher: Dispatcher,
  proxy: ListenProxy | undefined,
): ListenerHooks {
  return {
    pending: () => dispatcher.map[kTouch](dispatcher),
    error: (error) => dispatcher[kRaise](error),
    refused: () => {
      dispatcher.map[kStats].refused++;
    },
    proxy: proxy?.reader,
    proxyError: proxy && proxyErrorReporter(dispatcher, proxy.onProxyError),
  };
}
