// HAProxy's PROXY protocol, v1 (text) and v2 (binary), receiving side (internal): the pure parser
// of the bytes at the start of a connection, its result type and its error. The reader that takes
// the header off a socket is src/_proxy-protocol.ts. Spec: haproxy's doc/proxy-protocol.txt,
// referred to as "spec 2.1" (v1) and "spec 2.2" (v2).
import net from 'node:net';

import type { Address } from './address.js';
import {
  canonicalIPv6,
  ipv4Bytes,
  ipv4Text,
  ipv6Bytes,
  ipv6Text,
  normalizeAddress,
} from './_cidr.js';

/** Which header versions a listener accepts: only v1, only v2, or either (told apart by signature). */
export type ProxyProtocolVersion = 'v1' | 'v2' | 'any';

import { OutOfRangeError, ProxyProtocolError, type ProxyProtocolErrorCode } from './errors.js';

export { ProxyProtocolError, type ProxyProtocolErrorCode };

/**
 * A parsed PROXY header.
 *
 * - `command: 'PROXY'` with `source`/`destination`: the connection was relayed for that client;
 *   use `source` as the peer address and `destination` as the local one.
 * - `command: 'PROXY'` without them (v1 `UNKNOWN`, v2 `UNSPEC` family): relayed, addresses unknown;
 *   use the connection's own addresses (spec 2.1, 2.2).
 * - `command: 'LOCAL'` (v2 only): the balancer's own connection, typically a health check; do
 *   not run the application's handler (close it, or answer the check).
 */
export interface ProxyHeader {
  /** 1 for the text header, 2 for the binary one. */
  readonly version: 1 | 2;
  readonly command: 'PROXY' | 'LOCAL';
  /** The relayed connection's address family (`'unspec'` for v1 `UNKNOWN`). */
  readonly family: 'IPv4' | 'IPv6' | 'unix' | 'unspec';
  /** The relayed connection's transport (v1 is always TCP, `'stream'`, unless `UNKNOWN`). */
  readonly transport: 'stream' | 'dgram' | 'unspec';
  /** The client (normalised: IPv4-mapped IPv6 as IPv4). Absent for LOCAL and unknown families. */
  readonly source?: Address;
  /** The address the client connected to (on the balancer), normalised like `source`. */
  readonly destination?: Address;
  /**
   * v2 TLVs, raw type to value (the first one of each type; see {@link PP2_TYPE}). Empty for v1
   * and LOCAL. A CRC32C TLV, when present, has been verified.
   */
  readonly tlvs: ReadonlyMap<number, Buffer>;
  /** How many bytes the header took on the wire. */
  readonly length: number;
}

/** The v2 signature, the first 12 bytes of every v2 header (spec 2.2). */
export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** The longest v1 header, CRLF included (spec 2.1: the worst case of `UNKNOWN` with addresses). */
export const PROXY_V1_MAX_LENGTH = 107;

/** The longest v2 header there can be: 16 fixed bytes and a 16-bit length. */
export const PROXY_V2_MAX_LENGTH = 16 + 0xffff;

/** The default bound on a v2 header, TLVs included (`maxHeaderBytes`). */
export const DEFAULT_MAX_HEADER_BYTES = 4096;

/** The default bounded wait for a complete header, in ms (spec 2: "at least 3 seconds"). */
export const DEFAULT_PROXY_TIMEOUT = 5000;

/** Registered v2 TLV types (spec 2.2), the keys of {@link ProxyHeader.tlvs}. */
export const PP2_TYPE = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
});

const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
const V2_FAMILIES = ['unspec', 'IPv4', 'IPv6', 'unix'] as const;
const V2_TRANSPORTS = ['unspec', 'stream', 'dgram'] as const;
const V2_ADDRESS_BYTES = [0, 12, 36, 216] as const;
const UNIX_PATH_BYTES = 108;

function malformed(message: string): ProxyProtocolError {
  return new ProxyProtocolError('ERR_DB_PROXY_HEADER', `Invalid PROXY protocol header: ${message}`);
}

/** Options of {@link parseProxyHeader}. */
export interface ParseProxyHeaderOptions {
  /** Which versions to accept (default `'any'`). */
  version?: ProxyProtocolVersion | undefined;
  /** The longest v2 header accepted, in bytes (default 4096; v1 is at most 107 anyway). */
  maxHeaderBytes?: number | undefined;
}

/**
 * Parses the PROXY header at the start of `data`: returns it (its `length` tells where the
 * payload starts), or `null` when `data` is a valid but incomplete start of a header. Throws a
 * {@link ProxyProtocolError} (`ERR_DB_PROXY_HEADER`) as soon as `data` cannot start a valid
 * header: call it again with more bytes while it returns `null`.
 *
 * @example
 * ```ts
 * const data = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51000 7000\r\nHELO\r\n');
 * const header = parseProxyHeader(data, { version: 'v1' });
 * // header.source: { host: '203.0.113.7', port: 51000, family: 'IPv4' }
 * data.subarray(header!.length).toString(); // 'HELO\r\n'
 * ```
 */
export function parseProxyHeader(
  data: Buffer,
  options: ParseProxyHeaderOptions = {},
): ProxyHeader | null {
  const version = options.version ?? 'any';
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (data.length === 0) return null;
  const isV2 = data[0] === PROXY_V2_SIGNATURE[0];
  const signature = isV2 ? PROXY_V2_SIGNATURE : V1_SIGNATURE;
  const compared = Math.min(data.length, signature.length);
  if (data.compare(signature, 0, compared, 0, compared) !== 0) {
    throw malformed(`the connection does not start with a PROXY ${describe(version)} signature`);
  }
  if (version !== 'any' && version !== (isV2 ? 'v2' : 'v1')) {
    throw malformed(`expected a ${version} header, got a ${isV2 ? 'v2' : 'v1'} signature`);
  }
  return isV2 ? parseV2(data, maxHeaderBytes) : parseV1(data);
}

function describe(version: ProxyProtocolVersion): string {
  return version === 'any' ? 'v1 or v2' : version;
}

// spec 2.1: one line of printable US-ASCII ending in CRLF, at most 107 bytes; a lone CR or LF is
// an error, and so is a line not ended within 107 bytes.
function parseV1(data: Buffer): ProxyHeader | null {
  const scan = Math.min(data.length, PROXY_V1_MAX_LENGTH);
  let end = -1;
  for (let i = V1_SIGNATURE.length; i < scan; i++) {
    const byte = data[i]!;
    if (byte === 0x0d) {
      if (i + 2 > PROXY_V1_MAX_LENGTH) break;
      if (i + 1 === data.length) return null;
      if (data[i + 1] !== 0x0a) throw malformed('v1 line has a CR not followed by LF');
      end = i;
      break;
    }
    if (byte === 0x0a) throw malformed('v1 line ends with LF instead of CRLF');
    if (byte < 0x20 || byte > 0x7e) throw malformed(`v1 line has a non-ASCII byte 0x${hex(byte)}`);
  }
  if (end === -1) {
    if (data.length < PROXY_V1_MAX_LENGTH) return null;
    throw malformed(`v1 line has no CRLF within ${PROXY_V1_MAX_LENGTH} bytes`);
  }
  const length = end + 2;
  const fields = data.toString('latin1', V1_SIGNATURE.length, end).split(' ');
  const protocol = fields[0];
  if (protocol === 'UNKNOWN') {
    // spec 2.1: the rest of an UNKNOWN line is ignored
    return v1Header('PROXY', 'unspec', 'unspec', undefined, undefined, length);
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    throw malformed(`v1 protocol must be TCP4, TCP6 or UNKNOWN, got ${JSON.stringify(protocol)}`);
  }
  if (fields.length !== 5) {
    throw malformed(
      `v1 ${protocol} line must have 4 fields after the protocol, got ${fields.length - 1}`,
    );
  }
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6';
  const source = v1Host(fields[1]!, family, 'source');
  const destination = v1Host(fields[2]!, family, 'destination');
  const sourcePort = v1Port(fields[3]!, 'source');
  const destinationPort = v1Port(fields[4]!, 'destination');
  return v1Header(
    'PROXY',
    family,
    'stream',
    normalizeAddress({ host: source, port: sourcePort }),
    normalizeAddress({ host: destination, port: destinationPort }),
    length,
  );
}

function v1Header(
  command: 'PROXY',
  family: ProxyHeader['family'],
  transport: ProxyHeader['transport'],
  source: Address | undefined,
  destination: Address | undefined,
  length: number,
): ProxyHeader {
  // object literals, not spreads: this runs once per connection
  const tlvs = new Map<number, Buffer>();
  return source === undefined
    ? { version: 1, command, family, transport, tlvs, length }
    : { version: 1, command, family, transport, source, destination: destination!, tlvs, length };
}

function v1Host(text: string, family: 'IPv4' | 'IPv6', which: string): string {
  if (family === 'IPv4') {
    // net.isIPv4 rejects leading zeros ("010.0.0.1"), as spec 2.1 asks
    if (net.isIPv4(text)) return text;
  } else if (!text.includes('%')) {
    const canonical = canonicalIPv6(text);
    if (canonical !== null) return canonical;
  }
  throw malformed(`v1 ${which} address is not a valid ${family} address: ${JSON.stringify(text)}`);
}

function v1Port(text: string, which: string): number {
  // decimal, 0-65535, no leading zeros (spec 2.1)
  if (/^(0|[1-9][0-9]{0,4})$/.test(text)) {
    const port = Number(text);
    if (port <= 0xffff) return port;
  }
  throw malformed(
    `v1 ${which} port must be an integer from 0 to 65535, got ${JSON.stringify(text)}`,
  );
}

// spec 2.2: 12-byte signature, version/command, family/transport, 16-bit length, then that many
// bytes of addresses and TLVs. Each fixed byte is checked as soon as it arrives.
function parseV2(data: Buffer, maxHeaderBytes: number): ProxyHeader | null {
  if (data.length > 12) {
    const versionCommand = data[12]!;
    if (versionCommand >> 4 !== 2)
      throw malformed(`v2 version must be 2, got ${versionCommand >> 4}`);
    if ((versionCommand & 0x0f) > 1) {
      throw malformed(`v2 command must be LOCAL (0) or PROXY (1), got ${versionCommand & 0x0f}`);
    }
  }
  if (data.length > 13) {
    const familyTransport = data[13]!;
    if (familyTransport >> 4 > 3)
      throw malformed(`v2 address family ${familyTransport >> 4} is unknown`);
    if ((familyTransport & 0x0f) > 2) {
      throw malformed(`v2 transport protocol ${familyTransport & 0x0f} is unknown`);
    }
  }
  if (data.length < 16) return null;
  const length = 16 + data.readUInt16BE(14);
  if (length > maxHeaderBytes) {
    throw malformed(
      `v2 header of ${length} bytes is longer than maxHeaderBytes (${maxHeaderBytes})`,
    );
  }
  if (data.length < length) return null;
  const familyCode = data[13]! >> 4;
  const family = V2_FAMILIES[familyCode]!;
  const transport = V2_TRANSPORTS[data[13]! & 0x0f]!;
  if ((data[12]! & 0x0f) === 0) {
    // spec 2.2: for LOCAL the receiver discards the address block, family included
    return { version: 2, command: 'LOCAL', family, transport, tlvs: new Map(), length };
  }
  const addressBytes = V2_ADDRESS_BYTES[familyCode]!;
  if (length - 16 < addressBytes) {
    throw malformed(
      `v2 ${family} address block needs ${addressBytes} bytes, the header has ${length - 16}`,
    );
  }
  const header = data.subarray(0, length);
  const tlvs = parseTlvs(header, 16 + addressBytes);
  if (family === 'unspec') return { version: 2, command: 'PROXY', family, transport, tlvs, length };
  const [source, destination] = v2Addresses(header, family);
  return { version: 2, command: 'PROXY', family, transport, source, destination, tlvs, length };
}

function v2Addresses(header: Buffer, family: 'IPv4' | 'IPv6' | 'unix'): [Address, Address] {
  if (family === 'unix') {
    return [
      { path: unixPath(header.subarray(16, 16 + UNIX_PATH_BYTES)) },
      { path: unixPath(header.subarray(16 + UNIX_PATH_BYTES, 16 + 2 * UNIX_PATH_BYTES)) },
    ];
  }
  const size = family === 'IPv4' ? 4 : 16;
  const ports = 16 + 2 * size;
  const host = family === 'IPv4' ? ipv4Text : ipv6Text;
  return [
    normalizeAddress({
      host: host(header.subarray(16, 16 + size)),
      port: header.readUInt16BE(ports),
    }),
    normalizeAddress({
      host: host(header.subarray(16 + size, ports)),
      port: header.readUInt16BE(ports + 2),
    }),
  ];
}

// A NUL-terminated path; one starting with NUL is in Linux's abstract namespace, kept with its
// leading NUL as Node spells it ('\0name'), trailing NUL padding dropped.
function unixPath(bytes: Buffer): string {
  if (bytes[0] === 0) {
    let end = bytes.length;
    while (end > 1 && bytes[end - 1] === 0) end--;
    return bytes.toString('utf8', 0, end);
  }
  const nul = bytes.indexOf(0);
  return bytes.toString('utf8', 0, nul === -1 ? bytes.length : nul);
}

// spec 2.2: type (1 byte), length (2 bytes), value; they fill the header to its end exactly.
function parseTlvs(header: Buffer, start: number): ReadonlyMap<number, Buffer> {
  if (start === header.length) return new Map();
  const tlvs = new Map<number, Buffer>();
  let crcOffset = -1;
  for (let offset = start; offset < header.length;) {
    if (header.length - offset < 3) throw malformed(`v2 TLV at byte ${offset} is truncated`);
    const type = header[offset]!;
    const valueLength = header.readUInt16BE(offset + 1);
    const valueStart = offset + 3;
    if (valueStart + valueLength > header.length) {
      throw malformed(`v2 TLV 0x${hex(type)} at byte ${offset} runs past the end of the header`);
    }
    if (!tlvs.has(type)) {
      // a copy: the header may sit in a large chunk of payload that must not stay referenced
      tlvs.set(type, Buffer.from(header.subarray(valueStart, valueStart + valueLength)));
      if (type === PP2_TYPE.CRC32C) crcOffset = valueStart;
    }
    offset = valueStart + valueLength;
  }
  if (crcOffset !== -1) checkCrc32c(header, crcOffset, tlvs.get(PP2_TYPE.CRC32C)!);
  return tlvs;
}

// spec 2.2.3: the CRC32c of the whole header with the checksum's 4 bytes set to zero.
function checkCrc32c(header: Buffer, offset: number, value: Buffer): void {
  if (value.length !== 4) throw malformed(`v2 CRC32C TLV must be 4 bytes, got ${value.length}`);
  const zeroed = Buffer.from(header);
  zeroed.fill(0, offset, offset + 4);
  const computed = crc32c(zeroed);
  if (computed !== value.readUInt32BE(0)) {
    throw malformed(
      `v2 CRC32C mismatch: header says 0x${hex(value.readUInt32BE(0), 8)}, computed 0x${hex(computed, 8)}`,
    );
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32C (Castagnoli, RFC 4960 appendix B) of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function hex(value: number, digits = 2): string {
  return value.toString(16).padStart(digits, '0');
}

/** What {@link encodeProxyHeader} writes. */
export interface ProxyHeaderFields {
  /** 1 (text) or 2 (binary). */
  version: 1 | 2;
  /** Default `'PROXY'`; `'LOCAL'` is v2 only. */
  command?: 'PROXY' | 'LOCAL' | undefined;
  /** The client; with `destination`, both of one family. Without them: v1 `UNKNOWN`, v2 `UNSPEC`. */
  source?: Address | undefined;
  destination?: Address | undefined;
  /** v2 only (default `'stream'`). */
  transport?: 'stream' | 'dgram' | undefined;
  /** v2 only: TLVs in order. A CRC32C TLV (any 4-byte value) is filled in with the checksum. */
  tlvs?: Iterable<readonly [number, Uint8Array]> | undefined;
}

/**
 * The bytes of a PROXY header, as a balancer sends it: for tests, benchmarks and clients that
 * connect through nothing but want to pass an address on. Throws a RangeError for fields the
 * version cannot carry (v1 LOCAL or Unix addresses, mixed families, a port out of range).
 *
 * @example
 * ```ts
 * const bytes = encodeProxyHeader({
 *   version: 2,
 *   source: { host: '203.0.113.7', port: 51000 },
 *   destination: { host: '10.0.0.1', port: 7000 },
 * });
 * parseProxyHeader(bytes)?.source; // { host: '203.0.113.7', port: 51000, family: 'IPv4' }
 * ```
 */
export function encodeProxyHeader(fields: ProxyHeaderFields): Buffer {
  const { source, destination } = fields;
  if ((source === undefined) !== (destination === undefined)) {
    throw new OutOfRangeError('Expected both `source` and `destination`, or neither');
  }
  const family = source === undefined ? 'unspec' : familyOf(source);
  if (destination !== undefined && familyOf(destination) !== family) {
    throw new OutOfRangeError('Expected `source` and `destination` of one address family');
  }
  if (fields.version === 1) {
    if (fields.command === 'LOCAL') throw new OutOfRangeError('A v1 header cannot carry LOCAL');
    if (family === 'unspec') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
    if (family === 'unix') throw new OutOfRangeError('A v1 header cannot carry Unix addresses');
    const [s, d] = [source, destination] as [Endpoint, Endpoint];
    const protocol = family === 'IPv4' ? 'TCP4' : 'TCP6';
    const line = `PROXY ${protocol} ${s.host} ${d.host} ${port(s)} ${port(d)}\r\n`;
    return Buffer.from(line, 'latin1');
  }
  const parts: Buffer[] = [];
  if (family === 'unix') {
    for (const a of [source, destination] as [{ path: string }, { path: string }]) {
      const bytes = Buffer.alloc(UNIX_PATH_BYTES);
      if (Buffer.byteLength(a.path) > UNIX_PATH_BYTES)
        throw new OutOfRangeError('Unix path too long');
      bytes.write(a.path, 'utf8');
      parts.push(bytes);
    }
  } else if (family !== 'unspec') {
    const [s, d] = [source, destination] as [Endpoint, Endpoint];
    const bytes = family === 'IPv4' ? ipv4Bytes : ipv6Bytes;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(port(s), 0);
    ports.writeUInt16BE(port(d), 2);
    parts.push(bytes(s.host), bytes(d.host), ports);
  }
  let crcAt = -1;
  let offset = 16 + parts.reduce((n, p) => n + p.length, 0);
  for (const [type, value] of fields.tlvs ?? []) {
    const tlv = Buffer.alloc(3 + value.length);
    tlv[0] = type;
    tlv.writeUInt16BE(value.length, 1);
    tlv.set(value, 3);
    if (type === PP2_TYPE.CRC32C && value.length === 4 && crcAt === -1) crcAt = offset + 3;
    parts.push(tlv);
    offset += tlv.length;
  }
  const fixed = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(fixed);
  fixed[12] = fields.command === 'LOCAL' ? 0x20 : 0x21;
  const transport = family === 'unspec' ? 0 : fields.transport === 'dgram' ? 2 : 1;
  fixed[13] = (V2_FAMILIES.indexOf(family) << 4) | transport;
  if (offset - 16 > 0xffff) throw new OutOfRangeError('A v2 header is at most 65551 bytes');
  fixed.writeUInt16BE(offset - 16, 14);
  const header = Buffer.concat([fixed, ...parts]);
  if (crcAt !== -1) {
    header.fill(0, crcAt, crcAt + 4);
    header.writeUInt32BE(crc32c(header), crcAt);
  }
  return header;
}

type Endpoint = { host: string; port: number };

function familyOf(address: Address): 'IPv4' | 'IPv6' | 'unix' {
  if ('path' in address) return 'unix';
  if (net.isIPv4(address.host)) return 'IPv4';
  if (net.isIPv6(address.host)) return 'IPv6';
  throw new OutOfRangeError(`Expected an IP address, got ${JSON.stringify(address.host)}`);
}

function port(address: Endpoint): number {
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new OutOfRangeError(`Expected a port from 0 to 65535, got ${address.port}`);
  }
  return address.port;
}
