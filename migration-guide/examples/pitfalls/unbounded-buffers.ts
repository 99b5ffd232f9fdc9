/**
 * Pitfall: buffers without a bound.
 *
 * A peer that sends a "line" without ever sending its terminator makes a naive server collect
 * forever. Both styles have a bound; it only works if you keep it:
 * - legacy: `AsyncChat`'s `maxIncoming` (default 1 MiB; `Infinity` turns it off);
 * - modern: the reader's `limit`: `readLine()` / `readUntil()` reject with `LimitOverrunError`
 *   past it, and the reader pauses the transport past 2 × limit. But `read()` with no size
 *   (read to end-of-stream) buffers everything: use it only for streams known to be small.
 *
 * @module
 */
import { AsyncChat, type AsyncChatOptions } from 'dispatch-bridge/legacy';
import type { StreamReader } from 'dispatch-bridge/modern';

/**
 * Collects "\n"-terminated lines; `maxIncoming` decides whether memory is bounded.
 *
 * @example
 * ```ts
 * new LineCollector({ socket, map, maxIncoming: Infinity }); // THE PITFALL
 * new LineCollector({ socket, map, maxIncoming: 4096 }); // THE FIX: LimitOverrunError past it
 * ```
 */
export class LineCollector extends AsyncChat {
  readonly lines: string[] = [];
  readonly errors: unknown[] = [];
  #parts: Buffer[] = [];
  collectedBytes = 0;

  constructor(options: AsyncChatOptions) {
    super(options);
    this.setTerminator('\n');
  }

  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
    this.collectedBytes += data.length;
  }

  override foundTerminator(): void {
    this.lines.push(Buffer.concat(this.#parts.splice(0)).toString());
    this.collectedBytes = 0;
  }

  override handleError(error: unknown): void {
    this.errors.push(error); // a LimitOverrunError past maxIncoming
    this.close();
  }
}

/**
 * THE PITFALL (modern): waits for end-of-stream, holding everything the peer sends meanwhile.
 *
 * @example
 * ```ts
 * const request = await readRequestUnbounded(reader); // as big as the peer likes
 * ```
 */
export function readRequestUnbounded(reader: StreamReader): Promise<Buffer> {
  return reader.read();
}

/**
 * THE FIX (modern): one line, at most `limit` bytes; past it: LimitOverrunError.
 *
 * @example
 * ```ts
 * const request = await readRequestBounded(reader); // rejects past the reader's limit
 * ```
 */
export function readRequestBounded(reader: StreamReader): Promise<Buffer> {
  return reader.readLine();
}
