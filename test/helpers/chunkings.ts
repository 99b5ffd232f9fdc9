// Ways of cutting a byte stream into chunks, for framing tests and fast-check properties
// (STYLE P13: every framing test runs over many splits of its input).
import fc from 'fast-check';

/** Cuts `data` at the given offsets (any order, duplicates and out-of-range ones ignored). */
export function cut(data: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.filter((o) => o > 0 && o < data.length))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(data.subarray(start, point));
    start = point;
  }
  if (start < data.length) chunks.push(data.subarray(start));
  return chunks;
}

/**
 * Every way of cutting `data` into at most `maxParts` non-empty chunks, for exhaustive tests of
 * short inputs (asynchat's `line_terminator_check` over chunk sizes 1-3).
 */
export function* chunkings(data: Buffer, options: { maxParts: number }): Generator<Buffer[]> {
  const n = data.length;
  function* from(start: number, partsLeft: number): Generator<number[]> {
    if (start === n) {
      yield [];
      return;
    }
    if (partsLeft === 1) {
      yield [n];
      return;
    }
    for (let end = start + 1; end <= n; end++) {
      for (const rest of from(end, partsLeft - 1)) yield [end, ...rest];
    }
  }
  for (const ends of from(0, Math.max(1, options.maxParts))) {
    let start = 0;
    yield ends.map((end) => {
      const chunk = data.subarray(start, end);
      start = end;
      return chunk;
    });
  }
}

/**
 * Byte streams made mostly of the bytes of `terminator` and a few others, so that partial
 * terminators, empty messages and terminators split across chunks are common.
 */
export function framedBytes(
  terminator: Buffer,
  options: { maxLength?: number } = {},
): fc.Arbitrary<Buffer> {
  const alphabet = [...new Set([...terminator, 0x61, 0x78, 0x00, 0xff])];
  const byte = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...alphabet) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  const piece = fc.oneof(
    { weight: 3, arbitrary: fc.array(byte, { maxLength: 6 }) },
    { weight: 1, arbitrary: fc.constant([...terminator]) },
    { weight: 1, arbitrary: fc.constant([...terminator.subarray(0, terminator.length - 1)]) },
  );
  const maxLength = options.maxLength ?? 200;
  return fc
    .array(piece, { maxLength: 40 })
    .map((pieces) => Buffer.from(pieces.flat().slice(0, maxLength)));
}

/** A byte stream and a way of cutting it into chunks. */
export function chunked(bytes: fc.Arbitrary<Buffer>): fc.Arbitrary<{
  data: Buffer;
  chunks: Buffer[];
}> {
  return bytes.chain((data) =>
    fc
      .array(fc.integer({ min: 1, max: Math.max(1, data.length - 1) }), { maxLength: 30 })
      .map((offsets) => ({ data, chunks: cut(data, offsets) })),
  );
}

/** Short, readable labels for test names: `[3,1,4]`. */
export function label(chunks: readonly Buffer[]): string {
  return `[${chunks.map((c) => c.length).join(',')}]`;
}

/** `size` bytes of a pattern that repeats every 16 MiB: a lost, added or reordered piece shows. */
export function pattern(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 8) + (i >> 16)) & 0xff;
  return data;
}

/**
 * Yields to `ticks` microtasks: jitter that reorders concurrent async code without timers
 * (repeater's fuzz tests), so properties stay fast and deterministic for a given seed.
 */
export async function microtasks(ticks: number): Promise<void> {
  for (let i = 0; i < ticks; i++) await Promise.resolve();
}

/** Yields to the event loop `turns` times (I/O callbacks run in between). */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Resolves once `probe()` returns true, checking once per event-loop turn; rejects after
 * `maxTurns` turns so that a broken expectation fails instead of hanging.
 */
export async function until(probe: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (probe()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`Condition not met after ${maxTurns} event-loop turns`);
}
