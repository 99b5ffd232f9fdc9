/**
 * Pitfall: giving up on a read by racing it.
 *
 * `Promise.race([reader.readLine(), deadline])` stops waiting, but the read goes on: it still
 * owns the reader (a second read rejects: one read at a time) and, when the line arrives, it
 * takes it and nobody sees it. The fix: cancel the read itself with a signal (or `timeout()`).
 * A cancelled read rejects with `signal.reason` and leaves every byte in the buffer, so the next
 * read gets them (asyncio's `wait_for(reader.readline(), t)` keeps the data the same way).
 *
 * @module
 */
import type { StreamReader } from 'dispatch-bridge/modern';

/** Resolves with `signal.reason` once `signal` aborts. */
function whenAborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

/**
 * THE PITFALL: stops waiting when `signal` aborts, but the read itself is left running.
 *
 * @example
 * ```ts
 * await readLineRacing(reader, AbortSignal.timeout(1_000)); // 'gave up', the read goes on
 * await reader.readLine(); // rejects: a read is already pending
 * ```
 */
export async function readLineRacing(
  reader: StreamReader,
  signal: AbortSignal,
): Promise<Buffer | 'gave up'> {
  const winner = await Promise.race([reader.readLine(), whenAborted(signal)]);
  return Buffer.isBuffer(winner) ? winner : 'gave up';
}

/**
 * THE FIX: the read is cancelled; what was buffered stays for the next read.
 *
 * @example
 * ```ts
 * await readLineCancellable(reader, AbortSignal.timeout(1_000)); // 'gave up'
 * await reader.readLine(); // gets the whole line, including what arrived before
 * ```
 */
export async function readLineCancellable(
  reader: StreamReader,
  signal: AbortSignal,
): Promise<Buffer | 'gave up'> {
  try {
    return await reader.readLine({ signal }); // with a deadline: timeout(ms, (s) => reader.readLine({ signal: s }))
  } catch (error) {
    if (signal.aborted && error === signal.reason) return 'gave up';
    throw error;
  }
}
