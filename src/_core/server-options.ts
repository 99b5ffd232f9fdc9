// The options every server shares, checked once (internal): startServer and startMixedServer
// accept the same protections, and refuse the same bad values with a TypeError/RangeError that
// names the option.
import net from 'node:net';
import type tls from 'node:tls';
import { ProxyHeaderReader } from '../_proxy-protocol.js';
import { DEFAULT_LINGER_TIMEOUT } from './linger.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors.js';

/** Node's timers hold at most this many ms (a larger delay fires after 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long a TLS handshake may take by default (Node's own default is 120 s). */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** What the servers' options become once checked. */
export interface ServerLimits {
  hosts: (string | undefined)[];
  port: number;
  path: string | undefined;
  backlog: number | undefined;
  tls: tls.TlsOptions | undefined;
  limit: number | undefined;
  maxConnections: number | undefined;
  concurrency: number | undefined;
  idleTimeout: number | undefined;
  queueTimeout: number | undefined;
  handshakeTimeout: number;
  lingerTimeout: number;
  /** Reads the PROXY protocol header of each connection (`proxyProtocol`), or undefined. */
  proxy: ProxyHeaderReader | undefined;
}

/** The options as the servers take them (a superset of each server's public options). */
export interface CommonServerOptions {
  host?: string | readonly string[] | undefined;
  port?: number | undefined;
  path?: string | undefined;
  backlog?: number | undefined;
  tls?: tls.TlsOptions | undefined;
  limit?: number | undefined;
  maxConnections?: number | undefined;
  concurrency?: number | undefined;
  idleTimeout?: number | undefined;
  queueTimeout?: number | undefined;
  handshakeTimeout?: number | undefined;
  lingerTimeout?: number | undefined;
  proxyProtocol?: 'v1' | 'v2' | 'any' | undefined;
  trustedProxies?: readonly string[] | undefined;
  onError?: unknown;
}

function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'string' ? `'${value}'` : Array.isArray(value) ? '[…]' : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  return `\`${shown}\` (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}

function fail(name: string, what: string, value: unknown, numeric = true): never {
  const Kind = numeric && typeof value === 'number' ? OutOfRangeError : InvalidArgumentError;
  throw new Kind(`Expected \`${name}\` to be ${what}, got ${describe(value)}`);
}

function integer(name: string, value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(name, what, value);
  }
  return value;
}

/** An optional positive integer option. */
export function optionalPositive(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return integer(name, value, 1, Number.MAX_SAFE_INTEGER, 'a positive integer');
}

/** An optional number of ms a timer can hold (0 allowed when `zero`). */
export function optionalMs(name: string, value: unknown, zero = true): number | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < (zero ? 0 : 1) ||
    value > MAX_TIMER_MS
  ) {
    fail(name, `a number of milliseconds from ${zero ? 0 : 1} to ${MAX_TIMER_MS}`, value);
  }
  return value;
}

/** Checks the options every server shares; throws a TypeError/RangeError naming the option. */
export function checkServerOptions(options: CommonServerOptions): ServerLimits {
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  const { host, path } = options;
  let hosts: (string | undefined)[];
  if (host === undefined) hosts = [undefined];
  else if (typeof host === 'string') hosts = [host];
  else if (Array.isArray(host) && host.length > 0 && host.every((h) => typeof h === 'string')) {
    hosts = [...host];
  } else fail('host', 'a string or a non-empty array of strings', host, false);
  if (path !== undefined && (typeof path !== 'string' || path === '')) {
    fail('path', 'a non-empty string', path);
  }
  if (path !== undefined && host !== undefined) {
    throw new InvalidArgumentError('Expected either `path` or `host`/`port`, got both');
  }
  const port =
    options.port === undefined ? 0 : integer('port', options.port, 0, 65535, 'a port (0 to 65535)');
  const tlsOptions = options.tls;
  if (
    tlsOptions !== undefined &&
    (typeof tlsOptions !== 'object' || tlsOptions === null || Array.isArray(tlsOptions))
  ) {
    fail(
      'tls',
      'TLS server options (an object with at least `key` and `cert`, or `pfx`)',
      tlsOptions,
    );
  }
  if (
    tlsOptions !== undefined &&
    tlsOptions.SNICallback === undefined &&
    tlsOptions.pfx === undefined &&
    (tlsOptions.key === undefined || tlsOptions.cert === undefined)
  ) {
    throw new InvalidArgumentError(
      'Expected `tls` to have `key` and `cert` (or `pfx`, or an `SNICallback`): a TLS server needs a certificate',
    );
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    fail('onError', 'a function', options.onError);
  }
  for (const h of hosts) {
    if (h !== undefined && h !== '' && net.isIP(h) === 0 && !/^[a-z0-9.-]+$/i.test(h)) {
      fail('host', 'an IP address or a host name', h, false);
    }
  }
  const handshakeTimeout =
    optionalMs('handshakeTimeout', options.handshakeTimeout, false) ?? DEFAULT_HANDSHAKE_TIMEOUT;
  let proxy: ProxyHeaderReader | undefined;
  if (options.proxyProtocol !== undefined) {
    // With `tls` too, the header is read off the raw TCP socket before the TLS handshake
    // (src/_core/listener.ts): a balancer in TCP mode passes TLS through to us.
    proxy = new ProxyHeaderReader(
      {
        version: options.proxyProtocol,
        trustedProxies: options.trustedProxies,
        timeout: handshakeTimeout,
      },
      { version: 'proxyProtocol', timeout: 'handshakeTimeout' },
    );
  } else if (options.trustedProxies !== undefined) {
    throw new InvalidArgumentError('Expected `trustedProxies` only with `proxyProtocol`');
  }
  return {
    proxy,
    hosts,
    port,
    path,
    backlog: optionalPositive('backlog', options.backlog),
    tls: tlsOptions,
    limit: optionalPositive('limit', options.limit),
    maxConnections: optionalPositive('maxConnections', options.maxConnections),
    concurrency: optionalPositive('concurrency', options.concurrency),
    idleTimeout: optionalMs('idleTimeout', options.idleTimeout),
    queueTimeout: optionalMs('queueTimeout', options.queueTimeout),
    handshakeTimeout,
    lingerTimeout: optionalMs('lingerTimeout', options.lingerTimeout) ?? DEFAULT_LINGER_TIMEOUT,
  };
}
