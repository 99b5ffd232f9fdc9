/**
 * PROXY header micro benchmark (not part of `npm run bench`): what taking the header off a
 * connection costs, once per connection.
 *
 * - parse: `parseProxyHeader()` on a complete header in one buffer (v1 TCP4 / TCP6, v2 IPv4,
 *   v2 IPv6 with two TLVs), ns per header, the median of several repetitions after a warm-up.
 * - read: `ProxyHeaderReader#read()` on an in-memory duplex (the header and a short payload in
 *   one write), against the same connection with no header, so the difference is the reader's
 *   cost per connection (listeners, timer, unshift) on top of parsing.
 *
 * Run standalone: `node --import ./scripts/ts-register.mjs bench/proxy-header.ts`.
 *
 * @module
 */
import process from 'node:process';
import type { Duplex } from 'node:stream';

import { duplexPair } from '../src/adapter/_duplex-pair.js';
import {
  encodeProxyHeader,
  parseProxyHeader,
  PP2_TYPE,
  ProxyHeaderReader,
} from '../src/_proxy-protocol.js';

const PARSES = 50_000;
const CONNECTIONS = 2_000;
const REPETITIONS = 5;

const HEADERS: Record<string, Buffer> = {
  'v1 TCP4': encodeProxyHeader({
    version: 1,
    source: { host: '203.0.113.7', port: 51000 },
    destination: { host: '10.0.0.1', port: 7000 },
  }),
  'v1 TCP6': encodeProxyHeader({
    version: 1,
    source: { host: '2001:db8:85a3::8a2e:370:7334', port: 51000 },
    destination: { host: '2001:db8::1', port: 7000 },
  }),
  'v2 IPv4': encodeProxyHeader({
    version: 2,
    source: { host: '203.0.113.7', port: 51000 },
    destination: { host: '10.0.0.1', port: 7000 },
  }),
  'v2 IPv6 + TLVs': encodeProxyHeader({
    version: 2,
    source: { host: '2001:db8:85a3::8a2e:370:7334', port: 51000 },
    destination: { host: '2001:db8::1', port: 7000 },
    tlvs: [
      [PP2_TYPE.AUTHORITY, Buffer.from('chat.example.org')],
      [PP2_TYPE.UNIQUE_ID, Buffer.alloc(16, 7)],
    ],
  }),
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median ns per call of `work` (which returns a number, so that it is not optimised away). */
function nsPerCall(work: () => number): number {
  let sink = 0;
  for (let i = 0; i < PARSES / 10; i++) sink += work(); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < REPETITIONS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < PARSES; i++) sink += work();
    runs.push(Number(process.hrtime.bigint() - start) / PARSES);
  }
  if (sink === 0) throw new Error('unreachable');
  return median(runs);
}

function parseCost(header: Buffer): number {
  const data = Buffer.concat([header, Buffer.from('HELO example.org\r\n')]);
  return nsPerCall(() => parseProxyHeader(data)!.length);
}

// A yardstick, to read the numbers on a loaded machine: JSON.parse of a small address object.
const ADDRESS_JSON = JSON.stringify({ host: '203.0.113.7', port: 51000, family: 'IPv4' });
const yardstick = (): number =>
  nsPerCall(() => (JSON.parse(ADDRESS_JSON) as { port: number }).port);

const PAYLOAD = Buffer.from('HELO example.org\r\n');
const PEER = { host: '127.0.0.1', port: 40000 };

function firstData(socket: Duplex): Promise<void> {
  return new Promise((resolve) => socket.once('data', () => resolve()));
}

async function connectionCost(reader: ProxyHeaderReader | null, header: Buffer): Promise<number> {
  const one = async (): Promise<void> => {
    const [client, server] = duplexPair();
    client.write(reader === null ? PAYLOAD : Buffer.concat([header, PAYLOAD]));
    if (reader !== null) await reader.read(server, { peer: PEER });
    await firstData(server);
    for (const end of [client, server]) end.on('error', () => {}).destroy();
  };
  for (let i = 0; i < CONNECTIONS / 10; i++) await one(); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < REPETITIONS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CONNECTIONS; i++) await one();
    runs.push(Number(process.hrtime.bigint() - start) / CONNECTIONS / 1000);
  }
  return median(runs);
}

async function main(): Promise<void> {
  console.log(`parseProxyHeader(), median of ${REPETITIONS} x ${PARSES} parses:`);
  for (const [name, header] of Object.entries(HEADERS)) {
    console.log(
      `  ${name.padEnd(16)} ${String(header.length).padStart(3)} bytes  ${parseCost(header).toFixed(0).padStart(5)} ns/header`,
    );
  }
  console.log(`  (yardstick: JSON.parse of a small address object, ${yardstick().toFixed(0)} ns)`);
  const reader = new ProxyHeaderReader();
  const base = await connectionCost(null, Buffer.alloc(0));
  console.log(
    `\nin-memory connection (write, first 'data'), median of ${REPETITIONS} x ${CONNECTIONS}:`,
  );
  console.log(`  no header        ${base.toFixed(2).padStart(6)} µs/connection`);
  for (const name of ['v1 TCP4', 'v2 IPv4']) {
    const cost = await connectionCost(reader, HEADERS[name]!);
    console.log(
      `  ${name.padEnd(16)} ${cost.toFixed(2).padStart(6)} µs/connection (+${(cost - base).toFixed(2)} µs for the header)`,
    );
  }
}

await main();
