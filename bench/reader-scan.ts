/**
 * StreamReader micro benchmark: separator searches and line reads, in one process.
 *
 * Rows (time per line, the median of REPETITIONS runs after a warm-up):
 * - `readLine 1-chunk`: the server's common case, a read waits and each line arrives in one chunk.
 * - `readLine 1-chunk +signal`: the same with `{ signal }` on every read, a signal of the caller's
 *   (an abort listener added when the read waits, removed when it ends).
 * - `readLine 1-chunk +owner signal`: the same with the reader's owner's signal, as a handler
 *   passes `context.signal` (no listener per read; see src/modern/_read-cancel.ts). Measured when
 *   the version's module exports `ownSignal` and has `_owned-signal.ts` beside it.
 * - `readLine buffered`: lines already buffered, one chunk per line.
 * - `readLine/readUntil 1-byte vs 1 KiB chunks`: the same 128 KiB of 64-byte lines fed all at once
 *   cut into 131 072 one-byte chunks or 128 chunks of 1 KiB, then read line by line; the ratio of
 *   the two shows whether reads are linear in bytes whatever the chunking.
 * - `readLine trickle`: a read waits while its line arrives one byte at a time.
 *
 * Run: `node --expose-gc --import ./scripts/ts-register.mjs bench/reader-scan.ts [A.ts [B.ts]]`.
 * With paths to other versions of `reader.ts`, the versions are measured alternately in the same
 * process (A, B, A, B, ...) and each row shows both and B/A, so that load from other processes
 * affects both alike. Times are CPU time (process.cpuUsage), not wall time.
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

/** A version of reader.ts: its StreamReader and, if it has one, the owner-signal hook. */
interface Version {
  StreamReader: ReaderClass;
  /** Makes `signal` the reader's owner's signal (as a served connection's context.signal). */
  own?: (reader: Reader, signal: AbortSignal) => void;
}

const REPETITIONS = 9;

const paths =
  process.argv.length > 2
    ? process.argv.slice(2)
    : [path.join(import.meta.dirname, '../src/modern/reader.ts')];
const versions: Version[] = [];
for (const modulePath of paths) {
  const module = (await import(pathToFileURL(path.resolve(modulePath)).href)) as {
    StreamReader: ReaderClass;
    ownSignal?: (reader: Reader, owned: unknown) => void;
  };
  const ownedPath = path.join(path.dirname(path.resolve(modulePath)), '_owned-signal.ts');
  const owned = module.ownSignal
    ? ((await import(pathToFileURL(ownedPath).href).catch(() => undefined)) as
        { OwnedSignal: new (signal: AbortSignal) => unknown } | undefined)
    : undefined;
  const { ownSignal } = module;
  versions.push({
    StreamReader: module.StreamReader,
    own:
      ownSignal && owned
        ? (reader, signal) => ownSignal(reader, new owned.OwnedSignal(signal))
        : undefined,
  });
}

const LINE = Buffer.from(`${'x'.repeat(63)}\n`);

async function oneChunkLines(
  { StreamReader, own }: Version,
  count: number,
  signalOf: 'none' | 'caller' | 'owner',
): Promise<number> {
  const reader = new StreamReader();
  const signal = new AbortController().signal;
  if (signalOf === 'owner') own!(reader, signal);
  const options = signalOf === 'none' ? undefined : { signal };
  const start = cpu();
  for (let i = 0; i < count; i++) {
    const pending = reader.readLine(options);
    // A fresh chunk per line, as a socket delivers.
    reader.feedData(Buffer.from(LINE));
    await pending;
  }
  return (cpu() - start) / count;
}

async function bufferedLines({ StreamReader }: Version, count: number): Promise<number> {
  const reader = new StreamReader({ limit: 1 << 30 });
  for (let i = 0; i < count; i++) reader.feedData(Buffer.from(LINE));
  const start = cpu();
  for (let i = 0; i < count; i++) await reader.readLine();
  return (cpu() - start) / count;
}

function stream(bytes: number, separator: string): Buffer {
  const line = Buffer.from(`${'x'.repeat(64 - separator.length)}${separator}`);
  return Buffer.concat(Array.from({ length: bytes / 64 }, () => line));
}

async function chunkedLines(
  { StreamReader }: Version,
  chunkSize: number,
  separator: string | null,
): Promise<number> {
  const data = stream(131_072, separator ?? '\n');
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) {
    // Each chunk its own allocation, as a socket delivers.
    chunks.push(Buffer.from(data.subarray(i, i + chunkSize)));
  }
  // Enough rounds for a run to take well over the CPU clock's granularity.
  const rounds = chunkSize < 64 ? 1 : 128;
  const lines = data.length / 64;
  const start = cpu();
  for (let round = 0; round < rounds; round++) {
    const reader = new StreamReader({ limit: 1 << 30 });
    for (const chunk of chunks) reader.feedData(chunk);
    for (let i = 0; i < lines; i++) {
      if (separator === null) await reader.readLine();
      else await reader.readUntil(separator);
    }
  }
  return (cpu() - start) / (lines * rounds);
}

async function trickle({ StreamReader }: Version, lineLength: number): Promise<number> {
  const reader = new StreamReader({ limit: 1 << 30 });
  const bytes = Array.from({ length: lineLength }, (_, i) =>
    Buffer.from(i === lineLength - 1 ? '\n' : 'x'),
  );
  const start = cpu();
  const pending = reader.readLine();
  for (const byte of bytes) reader.feedData(byte);
  await pending;
  return (cpu() - start) / lineLength;
}

/** CPU time of this process in nanoseconds. */
function cpu(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

async function measure(
  name: string,
  run: (version: Version) => Promise<number>,
): Promise<number[]> {
  for (const version of versions) await run(version); // warm-up
  const times: number[][] = versions.map(() => []);
  for (let i = 0; i < REPETITIONS; i++) {
    for (const [index, version] of versions.entries()) {
      globalThis.gc?.();
      times[index]!.push(await run(version));
    }
  }
  const medians = times.map((list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]!);
  const cells = medians.map((median) => `${median.toFixed(1).padStart(10)} ns`).join(' ');
  const ratio = medians.length > 1 ? `  B/A ${(medians[1]! / medians[0]!).toFixed(2)}` : '';
  console.log(`${name.padEnd(34)} ${cells}${ratio}`);
  return medians;
}

/**
 * `row` over `base` for each version: the two are run alternately (base, row, base, row, ...), and
 * the median of the ratios of neighbouring runs is printed, so that drift of the machine between
 * rows weighs on both.
 */
async function compare(
  name: string,
  base: (version: Version) => Promise<number>,
  row: (version: Version) => Promise<number>,
): Promise<void> {
  const cells: string[] = [];
  for (const version of versions) {
    await base(version); // warm-up
    await row(version);
    const quotients: number[] = [];
    for (let i = 0; i < REPETITIONS; i++) {
      globalThis.gc?.();
      const before = await base(version);
      globalThis.gc?.();
      const own = await row(version);
      globalThis.gc?.();
      quotients.push((2 * own) / (before + (await base(version))));
    }
    quotients.sort((a, b) => a - b);
    cells.push(`${quotients[Math.floor(quotients.length / 2)]!.toFixed(2)}×`);
  }
  console.log(`${name.padEnd(34)} ${cells.join(' ')} (interleaved, median of ${REPETITIONS})`);
}

const ratios = (a: number[], b: number[]): string =>
  a.map((value, i) => `${(value / b[i]!).toFixed(2)}×`).join(' ');

console.log(`versions: ${paths.join(', ')}`);
const plain = await measure('readLine 1-chunk (per line)', (v) =>
  oneChunkLines(v, 200_000, 'none'),
);
const signal = await measure('readLine 1-chunk +signal', (v) =>
  oneChunkLines(v, 200_000, 'caller'),
);
console.log(`  +signal / plain: ${ratios(signal, plain)}`);
if (versions.every((version) => version.own !== undefined)) {
  await measure('readLine 1-chunk +owner signal', (v) => oneChunkLines(v, 200_000, 'owner'));
  await compare(
    '  +owner signal / plain',
    (v) => oneChunkLines(v, 100_000, 'none'),
    (v) => oneChunkLines(v, 100_000, 'owner'),
  );
}
await measure('readLine buffered (per line)', (R) => bufferedLines(R, 200_000));
const line1 = await measure('readLine 1-byte chunks (per line)', (R) => chunkedLines(R, 1, null));
const line1k = await measure('readLine 1 KiB chunks (per line)', (R) =>
  chunkedLines(R, 1024, null),
);
console.log(`  1-byte / 1 KiB: ${ratios(line1, line1k)}`);
const until1 = await measure('readUntil 1-byte chunks', (R) => chunkedLines(R, 1, '\r\n'));
const until1k = await measure('readUntil 1 KiB chunks', (R) => chunkedLines(R, 1024, '\r\n'));
console.log(`  1-byte / 1 KiB: ${ratios(until1, until1k)}`);
await measure('readLine trickle (per byte)', (R) => trickle(R, 100_000));
