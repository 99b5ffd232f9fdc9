/* c8 ignore start -- types only: the module never runs, so coverage has nothing to measure */
/**
 * The one endpoint type of both layers (DESIGN's `Address`), in a module of its own so that the
 * legacy and modern layers share it without depending on each other.
 *
 * @module
 */

/**
 * A TCP endpoint or a Unix socket (Windows pipe) path. `host` may be IPv4, IPv6 or a name;
 * `family` (`'IPv4'` / `'IPv6'`) is there when the address comes from a connected socket and
 * is never required in what you pass in.
 *
 * @example
 * ```ts
 * const tcp: Address = { host: '127.0.0.1', port: 7000 };
 * const unix: Address = { path: '/tmp/chat.sock' };
 * ```
 */
export type Address =
  | {
      /** The host: an IPv4 or IPv6 address, or a name. */
      host: string;
      /** The TCP port (0 in what you pass: any free port). */
      port: number;
      /** `'IPv4'` or `'IPv6'`, when the address comes from a connected socket. */
      family?: string;
    }
  | {
      /** A Unix socket path or Windows pipe name. */
      path: string;
    };
/* c8 ignore stop */
