/**
 * StreamReader micro benchmark: separator searches and line reads, in one process.
 *
 * Rows (time per line, the median of REPETITIONS runs after a warm-up):
 * - `readLine 1-chunk`: the server's common case, a read waits and each line arrives in one chunk.
 * - `readLine 1-chunk +signal`: the same with `{ signal }` on every read.
 * - `readLine buffered`: lines already buffered, one chunk per line.
 * - `readLine/readUntil 1-byte vs 1 KiB chunks`: the same 128 KiB of 64-byte lines fed all at once
 *   cut into 131 072 one-byte chunks or 128 chunks of 1 KiB, then read line by line; the ratio of
 *   the two shows whether reads are linear in bytes whatever the chunking.
 * - `readLine trickle`: a read waits while its line arrives one byte at a time.
 *
 * Run: `node --expose-gc --import ./scripts/ts-register.mjs bench/reader-scan.ts [reader module]`
 * (the optional argument is a path to another `reader.ts`, to compare two versions).
 *
 * @module
 */
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

interface Reader {
  feedData(data: Uint8Array): void;
  readLine(options?: { signal?: AbortSignal }): Promise<Buffer>;
  readUntil(separator: string): Promise<Buffer>;
}
type ReaderClass = new (options?: { limit?: number }) => Reader;

const REPETITIONS = 7;

const modulePath = process.argv[2] ?? path.join(import.meta.dirname, '../src/modern/reader.ts');
const { StreamReader } = (await import(pathToFileURL(path.resolve(modulePath)).href)) as {
  StreamReader: ReaderClass;
};

const LINE = Buffer.from(`${'x'.repeat(63)}\n`);

async function oneChunkLines(count: number, withSignal: boolean): Promise<number> {
  const reader = new StreamReader();
  const signal = new AbortController().signal;
  const options = withSignal ? { signal } : undefined;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const pending = reader.readLine(options);
    // A fresh chunk per line, as a socket delivers.
    reader.feedData(Buffer.from(LINE));
    await pending;
  }
  return Number(process.hrtime.bigint() - start) / count;
}

async function bufferedLines(count: number): Promise<number> {
  const reader = new StreamReader({ limit: 1 << 30 });
  for (let i = 0; i < count; i++) reader.feedData(Buffer.from(LINE));
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await reader.readLine();
  return Number(process.hrtime.bigint() - start) / count;
}

function stream(bytes: number, separator: string): Buffer {
  const line = Buffer.from(`${'x'.repeat(64 - separator.length)}${separator}`);
  return Buffer.concat(Array.from({ length: bytes / 64 }, () => line));
}

async function chunkedLines(chunkSize: number, separator: string | null): Promise<number> {
  const data = stream(131_072, separator ?? '\n');
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) {
    // Each chunk its own allocation, as a socket delivers.
    chunks.push(Buffer.from(data.subarray(i, i + chunkSize)));
  }
  const reader = new StreamReader({ limit: 1 << 30 });
  const start = process.hrtime.bigint();
  for (const chunk of chunks) reader.feedData(chunk);
  const lines = data.length / 64;
  for (let i = 0; i < lines; i++) {
    if (separator === null) await reader.readLine();
    else await reader.readUntil(separator);
  }
  return Number(process.hrtime.bigint() - start) / lines;
}

async function trickle(lineLength: number): Promise<number> {
  const reader = new StreamReader({ limit: 1 << 30 });
  const bytes = Array.from({ length: lineLength }, (_, i) =>
    Buffer.from(i === lineLength - 1 ? '\n' : 'x'),
  );
  const start = process.hrtime.bigint();
  const pending = reader.readLine();
  for (const byte of bytes) reader.feedData(byte);
  await pending;
  return Number(process.hrtime.bigint() - start) / lineLength;
}

async function measure(name: string, run: () => Promise<number>): Promise<number> {
  await run(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < REPETITIONS; i++) {
    globalThis.gc?.();
    times.push(await run());
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`${name.padEnd(34)} ${median.toFixed(1).padStart(10)} ns`);
  return median;
}

console.log(`reader: ${modulePath}`);
const plain = await measure('readLine 1-chunk (per line)', () => oneChunkLines(200_000, false));
const signal = await measure('readLine 1-chunk +signal', () => oneChunkLines(200_000, true));
console.log(`  signal / plain: ${(signal / plain).toFixed(3)}×`);
await measure('readLine buffered (per line)', () => bufferedLines(200_000));
const line1 = await measure('readLine 1-byte chunks (per line)', () => chunkedLines(1, null));
const line1k = await measure('readLine 1 KiB chunks (per line)', () => chunkedLines(1024, null));
console.log(`  1-byte / 1 KiB: ${(line1 / line1k).toFixed(1)}×`);
const until1 = await measure('readUntil 1-byte chunks', () => chunkedLines(1, '\r\n'));
const until1k = await measure('readUntil 1 KiB chunks', () => chunkedLines(1024, '\r\n'));
console.log(`  1-byte / 1 KiB: ${(until1 / until1k).toFixed(1)}×`);
await measure('readLine trickle (per byte)', () => trickle(100_000));
