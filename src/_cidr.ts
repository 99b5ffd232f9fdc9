// IP addresses and ranges for the PROXY protocol (internal): which peers may send a PROXY header
// (`trustedProxies`: addresses and CIDR ranges, IPv4 and IPv6), and the one spelling of an
// address everywhere (`normalizeAddress`: IPv4-mapped IPv6 shown as IPv4; IPv6 from a header in
// RFC 5952's compressed lower case).
//
// Ranges are matched with `node:net`'s BlockList, which compares IPv4 and IPv4-mapped IPv6 as
// one address space: `127.0.0.0/8` matches a peer `::ffff:127.0.0.1` and `::ffff:127.0.0.0/104`
// matches `127.0.0.1`.
import net from 'node:net';

import type { Address } from './address.js';
import { InvalidArgumentError, OutOfRangeError } from './errors.js';

/**
 * The peers trusted by default: loopback only (`127.0.0.0/8`, `::1`, `::ffff:127.0.0.0/104`),
 * and peers on a Unix-domain socket (`'unix'`), which are local processes too.
 */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = Object.freeze([
  '127.0.0.0/8',
  '::1',
  '::ffff:127.0.0.0/104',
  'unix',
]);

/** A compiled, validated `trustedProxies` list. */
export interface TrustedProxies {
  /** The entries as given (a frozen copy). */
  readonly entries: readonly string[];
  /** True when `address` (a TCP peer or a Unix-socket peer) may send a PROXY header. */
  trusts(address: Address): boolean;
}

function show(value: unknown): string {
  return typeof value === 'string'
    ? `\`${value}\` (string)`
    : `\`${String(value)}\` (${typeof value})`;
}

/**
 * Validates and compiles a `trustedProxies` list: each entry is an IPv4 or IPv6 address
 * (`10.0.0.5`, `fd00::5`), a CIDR range (`10.0.0.0/8`, `fd00::/8`), or `'unix'` (any peer on a
 * Unix-domain socket). `['0.0.0.0/0', '::/0']` trusts every TCP peer (only for a port that nothing
 * but the balancer can reach). Throws a TypeError or RangeError naming the entry.
 */
export function compileTrustedProxies(list: unknown, name = 'trustedProxies'): TrustedProxies {
  if (!Array.isArray(list)) {
    throw new InvalidArgumentError(
      `Expected \`${name}\` to be an array of addresses or CIDR ranges, got ${show(list)}`,
    );
  }
  const blockList = new net.BlockList();
  let unix = false;
  const entries: string[] = [];
  list.forEach((entry: unknown, index) => {
    const label = `${name}[${index}]`;
    if (typeof entry !== 'string') {
      throw new InvalidArgumentError(
        `Expected \`${label}\` to be an address or CIDR range string, got ${show(entry)}`,
      );
    }
    entries.push(entry);
    if (entry === 'unix') {
      unix = true;
      return;
    }
    const slash = entry.indexOf('/');
    const host = slash === -1 ? entry : entry.slice(0, slash);
    const family = net.isIPv4(host)
      ? 'ipv4'
      : net.isIPv6(host) && !host.includes('%')
        ? 'ipv6'
        : '';
    if (family === '') {
      throw new OutOfRangeError(
        `Expected \`${label}\` to be an IPv4 or IPv6 address or CIDR range (or 'unix'), got ${show(entry)}`,
      );
    }
    if (slash === -1) {
      blockList.addAddress(host, family);
      return;
    }
    const bits = entry.slice(slash + 1);
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = Number(bits);
    if (!/^(0|[1-9][0-9]*)$/.test(bits) || prefix > max) {
      throw new OutOfRangeError(
        `Expected the prefix length of \`${label}\` to be an integer from 0 to ${max}, got ${show(entry)}`,
      );
    }
    blockList.addSubnet(host, prefix, family);
  });
  const frozen = Object.freeze(entries);
  return {
    entries: frozen,
    trusts(address: Address): boolean {
      if ('path' in address) return unix;
      const host = address.host;
      if (net.isIPv4(host)) return blockList.check(host, 'ipv4');
      if (net.isIPv6(host)) return blockList.check(stripZone(host), 'ipv6');
      return false;
    },
  };
}

function stripZone(host: string): string {
  const percent = host.indexOf('%');
  return percent === -1 ? host : host.slice(0, percent);
}

/**
 * The canonical text of an IPv6 address (RFC 5952: lower case, the longest run of zero groups
 * compressed, IPv4-mapped addresses as `::ffff:a.b.c.d`), or null if `text` is not one.
 */
export function canonicalIPv6(text: string): string | null {
  if (!net.isIPv6(text)) return null;
  return ipv6Text(ipv6Bytes(text));
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, any spelling) stands for, or null. */
export function unmapIPv4(host: string): string | null {
  const canonical = canonicalIPv6(host);
  if (canonical === null || !canonical.startsWith('::ffff:')) return null;
  const rest = canonical.slice(7);
  return net.isIPv4(rest) ? rest : null;
}

/**
 * The one spelling of an address everywhere: an IPv4-mapped IPv6 host (`::ffff:127.0.0.1`, as a
 * dual-stack listener reports IPv4 peers) becomes IPv4 (`{ host: '127.0.0.1', family: 'IPv4' }`);
 * other IP hosts get their `family`; names and Unix paths are returned as they are.
 *
 * @example
 * ```ts
 * normalizeAddress({ host: '::ffff:10.0.0.7', port: 5000, family: 'IPv6' });
 * // { host: '10.0.0.7', port: 5000, family: 'IPv4' }
 * ```
 */
export function normalizeAddress(address: Address): Address {
  if ('path' in address) return address;
  const { host, port } = address;
  if (net.isIPv4(host)) return { host, port, family: 'IPv4' };
  if (net.isIPv6(host)) {
    const ipv4 = /ffff/i.test(host) ? unmapIPv4(host) : null;
    return ipv4 === null ? { host, port, family: 'IPv6' } : { host: ipv4, port, family: 'IPv4' };
  }
  return address;
}

/** The dotted text of 4 address bytes. */
export function ipv4Text(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * The canonical text of 16 address bytes (RFC 5952): lower-case hex without leading zeros, the
 * longest run of two or more zero groups (the first of equal runs) as `::`, and an IPv4-mapped
 * address (`::ffff:0:0/96`) in mixed notation, `::ffff:a.b.c.d`. Plain JS: it runs per header.
 */
export function ipv6Text(bytes: Buffer): string {
  // plain loops and string concatenation: this runs once per connection
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = bytes[i] === 0;
  if (mapped) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  let best = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && bytes.readUInt16BE(2 * j) === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      text += '::';
      i += bestLength - 1;
    } else {
      text +=
        (text === '' || text.endsWith(':') ? '' : ':') + bytes.readUInt16BE(2 * i).toString(16);
    }
  }
  return text;
}

/** The 4 bytes of a dotted IPv4 address. */
export function ipv4Bytes(host: string): Buffer {
  return Buffer.from(host.split('.').map(Number));
}

/** The 16 bytes of a valid IPv6 address (as `net.isIPv6` accepts; a zone is dropped). */
export function ipv6Bytes(host: string): Buffer {
  // valid text has at most one '::' and may end in dotted IPv4
  const text = stripZone(host);
  const gap = text.indexOf('::');
  const bytes = Buffer.alloc(16);
  if (gap === -1) {
    writeGroups(bytes, text, 0, false);
  } else {
    writeGroups(bytes, text.slice(0, gap), 0, false);
    writeGroups(bytes, text.slice(gap + 2), 16, true);
  }
  return bytes;
}

// Writes the ':'-separated groups of `text` (the last one possibly dotted IPv4) from byte `at`
// forwards, or, when `backwards`, so that they end at byte `at`.
function writeGroups(bytes: Buffer, text: string, at: number, backwards: boolean): void {
  if (text === '') return;
  const parts = text.split(':');
  const values: number[] = [];
  for (const part of parts) {
    if (part.includes('.')) {
      const [a, b, c, d] = part.split('.');
      values.push((Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d));
    } else {
      values.push(parseInt(part, 16));
    }
  }
  let offset = backwards ? at - 2 * values.length : at;
  for (const value of values) {
    bytes.writeUInt16BE(value, offset);
    offset += 2;
  }
}
