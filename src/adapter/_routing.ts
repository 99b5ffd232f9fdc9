// Routing of the mixed server (internal; the public types are re-exported by mixed-server.ts):
// which implementation serves a connection, by a constant, a function, the peer's address, a
// fraction (canary) or the first bytes (sniffing, with the bytes put back).
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Address } from '../address.js';
import { checkMilliseconds, checkPositiveInteger, describeValue } from '../modern/_validate.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors.js';
import { RingBuffer } from './_ring-buffer.js';

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

/** Who is told what routing decided (an object with a method: no closure per connection). */
export interface RouteTarget {
  routed(decision: RouteDecision): void;
}

/** A routing under way (a sniff): cancel() stops it; the target is then never told. */
export interface PendingRoute {
  cancel(): void;
}

/** Applies a rule to connections; sniffing waits for the first bytes (bounded) first. */
export class Router {
  readonly #rule: RouteRule;
  #routed = 0;
  // The sniffs' one timer (a sniff rule has one timeout: their deadlines come in their order).
  readonly #clock: SniffClock | undefined;

  constructor(rule: unknown) {
    this.#rule = checkRoute(rule);
    const checked = this.#rule;
    this.#clock =
      typeof checked === 'object' && checked.by === 'sniff'
        ? new SniffClock(checked.timeout ?? DEFAULT_SNIFF_TIMEOUT)
        : undefined;
  }

  /**
   * Decides for one connection; `target.routed()` is called once (not at all when cancelled).
   * Returns the pending route while sniffing, else undefined (the target was told already).
   */
  route(socket: net.Socket, info: RouteInfo, target: RouteTarget): PendingRoute | undefined {
    const rule = this.#rule;
    if (typeof rule === 'object' && rule.by === 'sniff') {
      return new Sniff(socket, info, rule, target, this.#clock!);
    }
    let implementation: unknown;
    try {
      if (typeof rule === 'string') implementation = rule;
      else if (typeof rule === 'function') implementation = rule(info);
      else if (rule.by === 'address') implementation = rule.choose(info.remoteAddress, info);
      else implementation = this.#fraction(rule);
    } catch (error) {
      target.routed({ error });
      return undefined;
    }
    target.routed({ implementation });
    return undefined;
  }

  #fraction(rule: FractionRule): Implementation {
    if (rule.random !== undefined) return rule.random() < rule.modern ? 'modern' : 'legacy';
    const k = ++this.#routed;
    return Math.floor(k * rule.modern) > Math.floor((k - 1) * rule.modern) ? 'modern' : 'legacy';
  }
}

// The sniff of each socket being sniffed, for the shared 'readable' listener (no property is
// added to the socket, no closure made per connection).
const sniffs = new WeakMap<net.Socket, Sniff>();

function onSniffReadable(this: net.Socket): void {
  sniffs.get(this)?.readable();
}

// One sniff: reads (paused mode) until `bytes` bytes, end-of-stream or the deadline, then puts
// the bytes back with unshift() so that the chosen handler reads them first.
class Sniff implements PendingRoute {
  // Undefined once it is over (decided or cancelled).
  #socket: net.Socket | undefined;
  readonly #info: RouteInfo;
  readonly #rule: SniffRule;
  readonly #target: RouteTarget;
  readonly #clock: SniffClock;
  /** When the timeout decides (performance.now() ms). */
  readonly deadline: number;
  #parts: Buffer[] | undefined = undefined;
  #length = 0;

  constructor(
    socket: net.Socket,
    info: RouteInfo,
    rule: SniffRule,
    target: RouteTarget,
    clock: SniffClock,
  ) {
    this.#socket = socket;
    this.#info = info;
    this.#rule = rule;
    this.#target = target;
    this.#clock = clock;
    this.deadline = clock.add(this);
    sniffs.set(socket, this);
    socket.on('readable', onSniffReadable);
  }

  /** Whether it is over (decided or cancelled). */
  get over(): boolean {
    return this.#socket === undefined;
  }

  cancel(): void {
    this.#stop();
  }

  // The socket's 'readable': bytes, or end-of-stream.
  readable(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const wanted = this.#rule.bytes;
    let chunk: Buffer | null;
    while (this.#length < wanted && (chunk = socket.read() as Buffer | null) !== null) {
      (this.#parts ??= []).push(chunk);
      this.#length += chunk.length;
    }
    if (this.#length >= wanted || receivedEof(socket)) this.decide();
  }

  /** Decides with what has arrived (called by the clock at the deadline, too). */
  decide(): void {
    const socket = this.#stop();
    if (socket === undefined || socket.destroyed) return;
    const parts = this.#parts;
    this.#parts = undefined;
    const head =
      parts === undefined
        ? EMPTY
        : parts.length === 1
          ? parts[0]!
          : Buffer.concat(parts, this.#length);
    if (head.length > 0) socket.unshift(head);
    const rule = this.#rule;
    let implementation: unknown;
    try {
      const sniffed = head.length > rule.bytes ? head.subarray(0, rule.bytes) : head;
      implementation = rule.choose(Buffer.from(sniffed), this.#info);
    } catch (error) {
      this.#target.routed({ error });
      return;
    }
    this.#target.routed({ implementation });
  }

  // Ends it: the listener goes, the clock forgets it. The socket, if it was not over yet.
  #stop(): net.Socket | undefined {
    const socket = this.#socket;
    if (socket === undefined) return undefined;
    this.#socket = undefined;
    sniffs.delete(socket);
    socket.off('readable', onSniffReadable);
    this.#clock.settled();
    return socket;
  }
}

const EMPTY = Buffer.alloc(0);

// setTimeout's longest delay: a later deadline is reached in several steps.
const MAX_DELAY = 0x7fffffff;

// The deadlines of a router's sniffs, with one timer for all of them: a timer per connection
// costs a Timeout object and its list bookkeeping (set and cleared at every sniff). The sniffs
// of a rule share its timeout, so they come in deadline order; the queue holds them until their
// deadline passes (the ones over by then are skipped), and it is emptied, its timer cleared, as
// soon as no sniff is under way.
class SniffClock {
  readonly #timeout: number;
  readonly #queue = new RingBuffer<Sniff>();
  #timer: NodeJS.Timeout | undefined = undefined;
  // Sniffs under way.
  #live = 0;

  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  /** A sniff starts: its deadline. */
  add(sniff: Sniff): number {
    const deadline = performance.now() + this.#timeout;
    this.#queue.push(sniff);
    // The first one under way is the earliest: the others (if any) armed the timer already.
    if (this.#live++ === 0 && this.#timer === undefined) this.#arm(deadline);
    return deadline;
  }

  /** A sniff is over. */
  settled(): void {
    if (--this.#live > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.clear();
  }

  #arm(deadline: number): void {
    const delay = Math.min(MAX_DELAY, Math.max(1, Math.ceil(deadline - performance.now())));
    this.#timer = setTimeout(this.#onTimer, delay);
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    const queue = this.#queue;
    const now = performance.now();
    let head: Sniff | undefined;
    while ((head = queue.peek()) !== undefined) {
      if (!head.over && head.deadline > now) break;
      queue.shift();
      // A decision may start or end other sniffs: the queue is read again after it.
      if (!head.over) head.decide();
    }
    if (this.#timer === undefined && head !== undefined) this.#arm(head.deadline);
  };
}
