// One look of readUntil()/readLine() for their separator (internal): asyncio's readuntil loop
// body. The search resumes where the previous look stopped, so each look examines only the new
// bytes and the separator's length before them (linear in bytes, whatever the chunking).
import { LimitOverrunError } from './errors.js';
import type { ByteQueue } from './_byte-queue.js';
import { readerStats } from './_stats.js';

/**
 * Whether `chunk` is exactly one line within `limit`: its only `"\n"` is its last byte (a request
 * of a ping-pong protocol, which a waiting readLine() takes as it is). Counts the bytes scanned.
 *
 * @example
 * ```ts
 * if (isOneLine(chunk, this.limit)) resolve(chunk);
 * ```
 */
export function isOneLine(chunk: Buffer, limit: number): boolean {
  const end = chunk.length - 1;
  if (chunk[end] !== 0x0a || end > limit || chunk.indexOf(0x0a) !== end) return false;
  readerStats.bytesScanned += chunk.length;
  return true;
}

/**
 * Looks for `separator` in `queue` from offset `from` (everything before it was searched).
 *
 * Returns the offset just past the separator (> 0) when it is found within `limit`, else `-next`
 * (≤ 0): not found, and `next` is where the next look starts. Throws a LimitOverrunError (naming
 * the read `name`) when it ends past `limit` or none can be found within it.
 *
 * @example
 * ```ts
 * const found = searchSeparator(queue, NEWLINE, this.#searchFrom, this.limit, 'readLine');
 * if (found > 0) return queue.take(found);
 * this.#searchFrom = 0 - found;
 * ```
 */
export function searchSeparator(
  queue: ByteQueue,
  separator: Buffer,
  from: number,
  limit: number,
  name: string,
): number {
  const sepLength = separator.length;
  const length = queue.length;
  let next = from;
  if (length - from >= sepLength) {
    const index = queue.indexOf(separator, from);
    if (index !== -1) {
      if (index > limit)
        throw overrun(name, 'the separator was found past', limit, index + sepLength);
      return index + sepLength;
    }
    next = length + 1 - sepLength;
  }
  // Also when readLine()'s first look searched the first chunk already.
  if (next > limit) throw overrun(name, 'no separator found within', limit, next);
  // 0 - next, not -next: never -0, which would turn the caller's offset field into a boxed double.
  return 0 - next;
}

function overrun(name: string, what: string, limit: number, consumed: number): LimitOverrunError {
  return new LimitOverrunError(`Cannot ${name}(): ${what} the limit of ${limit} bytes`, consumed);
}
