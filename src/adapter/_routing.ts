// Routing of the mixed server (internal; the public types are re-exported by mixed-server.ts):
// which implementation serves a connection, by a constant, a function, the peer's address, a
// fraction (canary) or the first bytes (sniffing, with the bytes put back).
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Address } from '../address.js';
import { checkMilliseconds, checkPositiveInteger, describeValue } from '../modern/_validate.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors.js';

/** The two implementations a connection can be routed to. */
export type Implementation = 'legacy' | 'modern';

/** What a routing rule knows about a connection. */
export interface RouteInfo {
  /** The connection's id, unique within the server, from 1 (the modern `context.id`). */
  readonly id: number;
  /**
   * The peer's address. IPv4 peers of a dual-stack listener are given as plain IPv4
   * (`127.0.0.1`, not `::ffff:127.0.0.1`); Unix-socket peers as the server's `{ path }`.
   */
  readonly remoteAddress: Address;
}

/**
 * Protocol sniffing: waits until the client has sent `bytes` bytes (or `timeout` ms passed, or
 * the client half-closed), then `choose(head, info)` decides. `head` is at most `bytes` long
 * (shorter after a timeout or end-of-stream; empty for a client that waits for the server to
 * speak first). The sniffed bytes are put back: the chosen handler reads them as if nobody had
 * looked.
 *
 * @example
 * ```ts
 * const route: SniffRule = {
 *   by: 'sniff',
 *   bytes: 4,
 *   choose: (head) => (head.toString('latin1') === 'V2: ' ? 'modern' : 'legacy'),
 * };
 * ```
 */
export interface SniffRule {
  /** Routing by the first bytes. */
  by: 'sniff';
  /** How many bytes to wait for (a positive integer). */
  bytes: number;
  /** How long to wait for them, in ms. @default 1000 */
  timeout?: number | undefined;
  /** Decides from the first bytes (at most `bytes` of them). */
  choose(head: Buffer, info: RouteInfo): Implementation;
}

/**
 * Routing by the peer's address (see {@link RouteInfo.remoteAddress}).
 *
 * @example
 * ```ts
 * const route: AddressRule = {
 *   by: 'address',
 *   choose: (address) => ('host' in address && address.host === '::1' ? 'modern' : 'legacy'),
 * };
 * ```
 */
export interface AddressRule {
  /** Routing by the peer's address. */
  by: 'address';
  /** Decides from the peer's address. */
  choose(address: Address, info: RouteInfo): Implementation;
}

/**
 * A canary: a fraction `modern` (0 to 1) of the connections goes to the modern handler, the rest
 * to the legacy class. Without `random` the split is exact and deterministic: connection *k*
 * (counting from 1 in routing order) is modern when `floor(k × modern)` grows, so `0.5`
 * alternates legacy, modern, legacy, ... and `0.1` sends every tenth connection to modern. With
 * `random` (e.g. `Math.random`, or a seeded generator in tests) each connection is modern when
 * `random() < modern`.
 *
 * @example
 * ```ts
 * const route: FractionRule = { by: 'fraction', modern: 0.1 };
 * ```
 */
export interface FractionRule {
  /** A canary. */
  by: 'fraction';
  /** The fraction (0 to 1) of connections to the modern side. */
  modern: number;
  /** A random source in [0, 1): each connection is modern when `random() < modern`. */
  random?: (() => number) | undefined;
}

/**
 * How {@link startMixedServer} chooses the implementation of each connection: a constant
 * (everything to one side, handy with shadow mode), a sniff, address or fraction rule, or a
 * function of the connection. A rule that throws or returns something else closes only that
 * connection and is reported through `'error'` (role `'route'`).
 *
 * @example
 * ```ts
 * const byId: RouteRule = ({ id }) => (id % 2 === 0 ? 'modern' : 'legacy');
 * ```
 */
export type RouteRule =
  Implementation | SniffRule | AddressRule | FractionRule | ((info: RouteInfo) => Implementation);

const DEFAULT_SNIFF_TIMEOUT = 1_000;

/** The implementation that is not `implementation`. */
export function other(implementation: Implementation): Implementation {
  return implementation === 'legacy' ? 'modern' : 'legacy';
}

export function isImplementation(value: unknown): value is Implementation {
  return value === 'legacy' || value === 'modern';
}

// True once the readable side has received end-of-stream, even if 'end' is not emitted yet (it is
// emitted on the next tick after the last read(); putting bytes back before then cancels it).
function receivedEof(stream: Duplex): boolean {
  const state = (stream as unknown as { _readableState?: { ended?: unknown } })._readableState;
  return stream.readableEnded || state?.ended === true;
}

export function checkRoute(route: unknown): RouteRule {
  if (isImplementation(route) || typeof route === 'function') return route as RouteRule;
  if (typeof route === 'object' && route !== null && 'by' in route) {
    const rule = route as { by: unknown } & Record<string, unknown>;
    if (rule.by === 'sniff') {
      checkPositiveInteger('route.bytes', rule.bytes);
      if (rule.timeout !== undefined) checkMilliseconds('route.timeout', rule.timeout);
      if (typeof rule.choose !== 'function') {
        throw new InvalidArgumentError(
          `Expected \`route.choose\` to be a function, got ${describeValue(rule.choose)}`,
        );
      }
      return route as SniffRule;
    }
    if (rule.by === 'address') {
      if (typeof rule.choose !== 'function') {
        throw new InvalidArgumentError(
          `Expected \`route.choose\` to be a function, got ${describeValue(rule.choose)}`,
        );
      }
      return route as AddressRule;
    }
    if (rule.by === 'fraction') {
      const fraction = rule.modern;
      if (typeof fraction !== 'number') {
        throw new InvalidArgumentError(
          `Expected \`route.modern\` to be a number from 0 to 1, got ${describeValue(fraction)}`,
        );
      }
      if (!(fraction >= 0 && fraction <= 1)) {
        throw new OutOfRangeError(
          `Expected \`route.modern\` to be a number from 0 to 1, got ${describeValue(fraction)}`,
        );
      }
      if (rule.random !== undefined && typeof rule.random !== 'function') {
        throw new InvalidArgumentError(
          `Expected \`route.random\` to be a function, got ${describeValue(rule.random)}`,
        );
      }
      return route as FractionRule;
    }
  }
  throw new InvalidArgumentError(
    `Expected \`route\` to be 'legacy', 'modern', a function or a rule with \`by\` 'sniff', 'address' or 'fraction', got ${describeValue(route)}`,
  );
}

/** What routing decided: an implementation (still to be checked), or the rule's error. */
export type RouteDecision = { implementation: unknown } | { error: unknown };

/** Applies a rule to connections; sniffing waits for the first bytes (bounded) first. */
export class Router {
  readonly #rule: RouteRule;
  #routed = 0;

  constructor(rule: unknown) {
    this.#rule = checkRoute(rule);
  }

  /**
   * Decides for one connection; `decide` is called once (not at all when cancelled). Returns a
   * cancel function while sniffing, else undefined.
   */
  route(
    socket: net.Socket,
    info: RouteInfo,
    decide: (decision: RouteDecision) => void,
  ): (() => void) | undefined {
    const rule = this.#rule;
    if (typeof rule === 'object' && rule.by === 'sniff')
      return this.#sniff(socket, info, rule, decide);
    let implementation: unknown;
    try {
      if (typeof rule === 'string') implementation = rule;
      else if (typeof rule === 'function') implementation = rule(info);
      else if (rule.by === 'address') implementation = rule.choose(info.remoteAddress, info);
      else implementation = this.#fraction(rule);
    } catch (error) {
      decide({ error });
      return undefined;
    }
    decide({ implementation });
    return undefined;
  }

  #fraction(rule: FractionRule): Implementation {
    if (rule.random !== undefined) return rule.random() < rule.modern ? 'modern' : 'legacy';
    const k = ++this.#routed;
    return Math.floor(k * rule.modern) > Math.floor((k - 1) * rule.modern) ? 'modern' : 'legacy';
  }

  // Reads (paused mode) until `bytes` bytes, end-of-stream or the timeout, then puts the bytes
  // back with unshift() so that the chosen handler reads them first.
  #sniff(
    socket: net.Socket,
    info: RouteInfo,
    rule: SniffRule,
    decide: (decision: RouteDecision) => void,
  ): () => void {
    const parts: Buffer[] = [];
    let length = 0;
    let done = false;
    const stop = (): void => {
      done = true;
      clearTimeout(timer);
      socket.off('readable', onReadable);
    };
    const finish = (): void => {
      if (done) return;
      stop();
      if (socket.destroyed) return;
      const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
      if (head.length > 0) socket.unshift(head);
      let implementation: unknown;
      try {
        const sniffed = head.length > rule.bytes ? head.subarray(0, rule.bytes) : head;
        implementation = rule.choose(Buffer.from(sniffed), info);
      } catch (error) {
        decide({ error });
        return;
      }
      decide({ implementation });
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (length < rule.bytes && (chunk = socket.read() as Buffer | null) !== null) {
        parts.push(chunk);
        length += chunk.length;
      }
      if (length >= rule.bytes || receivedEof(socket)) finish();
    };
    const timer = setTimeout(finish, rule.timeout ?? DEFAULT_SNIFF_TIMEOUT);
    socket.on('readable', onReadable);
    return stop;
  }
}
