/**
 * Upstreams: an implementation that lives in another process (the server a team runs today, in
 * Python asyncore or anything else), reached over TCP or a Unix socket. `startMixedServer`
 * accepts one wherever it takes the legacy class or the modern handler: as the primary the mixed
 * server is a transparent proxy to it; as the shadow it gets a copy of the input and its output
 * is compared, never reaching the client.
 *
 * @module
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Address } from '../address.js';
import { ConnectionClosedError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { optionalMs } from '../_core/server-options.js';

/** Options of {@link upstream}. */
export interface UpstreamOptions {
  /** How long connecting may take, in ms (default 5000); then the connection fails. */
  connectTimeout?: number | undefined;
  /** A name for reports (default: the address as `host:port` or the path). */
  name?: string | undefined;
}

const kUpstream = Symbol('dispatch-bridge.upstream');

/**
 * An implementation in another process; made by {@link upstream}.
 *
 * @example
 * ```ts
 * const python: Upstream = upstream({ host: '127.0.0.1', port: 8000 });
 * console.log(python.name); // '127.0.0.1:8000'
 * ```
 */
export interface Upstream {
  /** @internal The brand {@link isUpstream} checks. */
  readonly [kUpstream]: true;
  /** Where it listens. */
  readonly address: Address;
  /** Its name in reports. */
  readonly name: string;
  /** How long connecting may take, in ms. */
  readonly connectTimeout: number;
}

/** Whether `value` was made by {@link upstream}. */
export function isUpstream(value: unknown): value is Upstream {
  return typeof value === 'object' && value !== null && kUpstream in value;
}

/**
 * An implementation that runs in another process, at `address` (`{ host, port }` or `{ path }`).
 * Give it to `startMixedServer` as `legacy` or `modern`: each connection routed to it opens a
 * connection to the upstream and the bytes are passed through both ways, with backpressure (a
 * slow reader on either side slows the other, nothing is buffered without bound), half-closes
 * and resets passed on, nothing lost or reordered. A failed connect, or an upstream that goes
 * away, is reported through the mixed server's `'error'` (role `'primary'` or `'shadow'`) and the
 * client's connection closes (a primary) or the shadow is dropped.
 *
 * @throws {TypeError} If `address` is not `{ host, port }` or `{ path }`.
 *
 * @example
 * ```ts
 * // Canary: one connection in ten to the TypeScript port, the rest to the running Python server.
 * const server = await startMixedServer({
 *   legacy: upstream({ host: '127.0.0.1', port: 8000 }),
 *   modern: kvHandler,
 *   route: { by: 'fraction', modern: 0.1 },
 *   port: 7000,
 * });
 * ```
 */
export function upstream(address: Address, options: UpstreamOptions = {}): Upstream {
  let checked: Address;
  if (typeof address === 'object' && address !== null && 'path' in address) {
    if (typeof address.path !== 'string' || address.path === '') {
      throw new InvalidArgumentError('Expected `address.path` to be a non-empty string');
    }
    checked = { path: address.path };
  } else if (
    typeof address === 'object' &&
    address !== null &&
    typeof (address as { host?: unknown }).host === 'string' &&
    Number.isInteger((address as { port?: unknown }).port) &&
    (address as { port: number }).port > 0 &&
    (address as { port: number }).port <= 65535
  ) {
    const { host, port } = address as { host: string; port: number };
    checked = { host, port };
  } else {
    throw new InvalidArgumentError(
      `Expected \`address\` to be { host, port } or { path }, got \`${JSON.stringify(address)}\``,
    );
  }
  const connectTimeout = optionalMs('connectTimeout', options.connectTimeout) ?? 5_000;
  const name =
    options.name ?? ('path' in checked ? checked.path : `${checked.host}:${checked.port}`);
  return { [kUpstream]: true, address: checked, name, connectTimeout };
}

/** A proxied connection, as the mixed server stops it. */
export interface ProxyRun {
  /** Cuts both sides now. */
  stop(reason: unknown): void;
}

function isReset(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ECONNRESET';
}

function reset(stream: Duplex): void {
  if (stream instanceof net.Socket && !stream.destroyed) stream.resetAndDestroy();
  else stream.destroy();
}

/**
 * Passes `client` through to a new connection to `target` (internal; used by the mixed server).
 * `failed` gets a connect failure or an upstream that went away with an error; `done` is called
 * once both connections have closed.
 */
export function proxy(
  target: Upstream,
  client: Duplex,
  failed: (error: unknown) => void,
  done: () => void,
): ProxyRun {
  const address = target.address;
  const server =
    'path' in address
      ? net.connect({ path: address.path, allowHalfOpen: true })
      : net.connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true });
  let connected = false;
  let finished = false;
  let closedSides = 0;
  const timer = setTimeout(() => {
    if (connected) return;
    server.destroy(
      new TimeoutError(
        target.connectTimeout,
        `Cannot connect to upstream ${target.name}: timed out`,
      ),
    );
  }, target.connectTimeout);
  timer.unref();
  const closed = (): void => {
    closedSides++;
    if (closedSides === 2 && !finished) {
      finished = true;
      done();
    }
  };
  // One direction: `from` -> `to`, paused while `to` is congested; end and reset passed on.
  const pipe = (from: Duplex, to: Duplex): void => {
    from.on('data', (chunk: Buffer) => {
      if (!to.destroyed && !to.writableEnded && !to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => {
      if (!to.destroyed && !to.writableEnded) to.end();
    });
  };
  pipe(client, server);
  pipe(server, client);
  server.once('connect', () => {
    connected = true;
    clearTimeout(timer);
  });
  server.on('error', (error) => {
    clearTimeout(timer);
    // The upstream reset the connection: so does the client's side; anything else (refused, a
    // timeout) is a failure the server reports.
    if (isReset(error) && connected) reset(client);
    else {
      failed(
        connected
          ? new ConnectionClosedError(`Upstream ${target.name} failed`, { cause: error })
          : new ConnectionClosedError(`Cannot connect to upstream ${target.name}`, {
              cause: error,
            }),
      );
      reset(client);
    }
  });
  client.on('error', (error) => {
    if (isReset(error)) reset(server);
    else server.destroy();
  });
  // Either side gone without an orderly end of both: the other goes too.
  server.once('close', () => {
    clearTimeout(timer);
    if (!client.destroyed && !(server.readableEnded && server.writableFinished)) reset(client);
    closed();
  });
  client.once('close', () => {
    if (!server.destroyed && !(client.readableEnded && client.writableFinished)) reset(server);
    closed();
  });
  return {
    stop: () => {
      clearTimeout(timer);
      server.destroy();
      client.destroy();
    },
  };
}
