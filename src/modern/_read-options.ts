// The StreamReader's option types (public, re-exported by reader.ts) and the kinds of its pending
// read (internal).

/** Options of the read methods: every wait can be cancelled. */
export interface ReadOptions {
  /**
   * Cancels the wait: the read rejects with `signal.reason` unchanged, and every byte stays
   * buffered for the next read. An already-aborted signal rejects at once.
   */
  signal?: AbortSignal | undefined;
}

/**
 * The flow-control hooks of the producer side (asyncio's `pause_reading()`/`resume_reading()`).
 *
 * The reader calls `pause()` when it holds more than 2 × `limit` bytes and no read waits for more,
 * and `resume()` once a read brings it back to `limit` bytes or fewer (or when a read has to wait
 * for more data). Calls alternate: never two `pause()` in a row.
 */
export interface FlowControlHooks {
  /** Stop the transport (the reader holds more than 2 × `limit` bytes). */
  pause?: (() => void) | undefined;
  /** Let the transport go on (a read took the buffer below `limit`, or has to wait). */
  resume?: (() => void) | undefined;
}

/** Options of {@link StreamReader}. */
export interface StreamReaderOptions extends FlowControlHooks {
  /** Buffer limit in bytes, for separator searches and flow control. Default 65536 (asyncio's). */
  limit?: number | undefined;
}

export const EMPTY = Buffer.alloc(0);
export const NEWLINE = Buffer.from('\n');

// What the pending read is (#kind). Only one read is pending at a time, so its state lives in the
// reader's fields, not in a per-read object.
export const NONE = 0;
export const READ = 1; // read(n > 0)
export const READ_ALL = 2; // read(-1)
export const EXACTLY = 3; // readExactly(n)
export const UNTIL = 4; // readUntil(separator)
export const LINE = 5; // readLine()
export const CHUNK = 6; // the next chunk of chunks()
export const NAMES = [
  '',
  'read',
  'read',
  'readExactly',
  'readUntil',
  'readLine',
  'chunks',
] as const;
