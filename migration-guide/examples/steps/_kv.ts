/**
 * What every step of the migration shares, and what never changes while the server is migrated:
 * the protocol, the data ({@link Store}) and the numbers the tests read ({@link KvStats}). No I/O
 * here: the handlers in `kv-legacy.ts` and `kv-modern.ts` do the talking.
 *
 * The protocol (one command per line, "\n"-terminated; a "\r" before it is ignored):
 *
 * | Command          | Reply                                                                    |
 * | ---------------- | ------------------------------------------------------------------------ |
 * | `SET key value`  | `OK` (the value is the rest of the line, spaces included)                |
 * | `GET key`        | `VALUE value` or `NOT_FOUND`                                             |
 * | `DEL key`        | `DELETED` or `NOT_FOUND`                                                 |
 * | `INCR key`       | `INTEGER n` (a missing key counts as 0) or `ERROR not an integer`        |
 * | `KEYS [prefix]`  | `KEYS n`, then the n keys, sorted, one per line                          |
 * | `DUMP [prefix]`  | one `key value` line per key, sorted, then `END n` (streamed, see below) |
 * | `QUIT`           | `BYE`, then the server closes the connection                             |
 * | anything else    | `ERROR unknown command`, or `ERROR wrong number of arguments`            |
 *
 * A line longer than {@link MAX_LINE} bytes is answered `ERROR line too long` and closes the
 * connection; input after `QUIT` (or after a too-long line) is ignored, as is a last line without
 * "\n". `DUMP` takes a snapshot of the key names, then reads each value when its line is sent:
 * the server never holds the whole dump in memory, and it sends no faster than the client reads.
 *
 * @module
 */

/** The longest accepted line, in bytes, without its "\n". */
export const MAX_LINE = 1024;

/** A `DUMP` is sent in pieces of about this many bytes (a producer's `more()`, a `drain()`). */
export const DUMP_PIECE = 16 * 1024;

/** The reply to a line longer than {@link MAX_LINE}. */
export const TOO_LONG = 'ERROR line too long\n';

/** The key-value data every connection (legacy or modern) of one server shares. */
export class Store {
  readonly #data = new Map<string, string>();

  get size(): number {
    return this.#data.size;
  }

  set(key: string, value: string): void {
    this.#data.set(key, value);
  }

  get(key: string): string | undefined {
    return this.#data.get(key);
  }

  delete(key: string): boolean {
    return this.#data.delete(key);
  }

  /** The new value, or undefined when the current one is not an integer. */
  incr(key: string): number | undefined {
    const current = this.#data.get(key) ?? '0';
    if (!/^-?\d{1,15}$/.test(current)) return undefined;
    const next = Number(current) + 1;
    this.#data.set(key, String(next));
    return next;
  }

  /** The keys starting with `prefix`, sorted (a snapshot: later changes do not affect it). */
  keys(prefix = ''): string[] {
    const keys: string[] = [];
    for (const key of this.#data.keys()) if (key.startsWith(prefix)) keys.push(key);
    return keys.sort();
  }
}

/** Counters a running server exposes (shared by both implementations in steps 1 and 2). */
export interface KvStats {
  /** Connections served by the legacy handler class. */
  legacy: number;
  /** Connections served by the async handler. */
  modern: number;
  /** `DUMP` lines produced so far (all connections): shows a dump waiting for a slow client. */
  dumpLines: number;
  /** Unexpected errors of handlers (a bug, not a client's mistake). */
  errors: unknown[];
}

/** Fresh counters. */
export function newStats(): KvStats {
  return { legacy: 0, modern: 0, dumpLines: 0, errors: [] };
}

/** A command line split into its name and arguments (`SET` keeps the rest as one value). */
export function parseLine(line: string): { name: string; args: string[] } {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const space = text.indexOf(' ');
  const name = space === -1 ? text : text.slice(0, space);
  if (space === -1) return { name, args: [] };
  const rest = text.slice(space + 1);
  if (name === 'SET') {
    const split = rest.indexOf(' ');
    return { name, args: split === -1 ? [rest] : [rest.slice(0, split), rest.slice(split + 1)] };
  }
  return { name, args: rest.split(' ') };
}

/** How many arguments each command takes: [fewest, most]. */
export const ARITY: Readonly<Record<string, readonly [number, number]>> = {
  SET: [2, 2],
  GET: [1, 1],
  DEL: [1, 1],
  INCR: [1, 1],
  KEYS: [0, 1],
  DUMP: [0, 1],
  QUIT: [0, 0],
};

/** The error reply for `name` with `args`, or undefined when the command is well formed. */
export function checkCommand(name: string, args: readonly string[]): string | undefined {
  const arity = ARITY[name];
  if (arity === undefined) return 'ERROR unknown command\n';
  if (args.length < arity[0] || args.length > arity[1] || args.some((arg) => arg === '')) {
    return 'ERROR wrong number of arguments\n';
  }
  return undefined;
}

/**
 * The deterministic canary of steps 1 and 2: connection k (from 1) goes to the async handler
 * when `floor(k × share)` grows, so 0.5 alternates legacy, modern, ... and 0.1 sends every tenth.
 *
 * @example
 * ```ts
 * const useModern = canary(0.1);
 * useModern(); // false (9 times), then true
 * ```
 */
export function canary(share: number): () => boolean {
  if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
    throw new RangeError(
      `Expected \`modern\` to be a number from 0 to 1, got \`${String(share)}\` (${typeof share})`,
    );
  }
  let k = 0;
  return () => {
    k++;
    return Math.floor(k * share) > Math.floor((k - 1) * share);
  };
}

/** A running step of the migration: the shape of the teaching pairs, plus counters. */
export interface RunningKv {
  readonly address: { host: string; port: number };
  readonly port: number;
  /** Open client connections. */
  connections(): number;
  /** The counters (a live object). */
  stats(): KvStats;
  /** Stop listening and close every connection; resolves once everything is closed. */
  close(): Promise<void>;
}

/** Options of every step's `start()`. */
export interface KvOptions {
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number | undefined;
  /** Steps 1 and 2: the share of connections served by the async handler (0 to 1). */
  modern?: number | undefined;
}
