// The iterator of StreamReader#chunks() (internal): one object per call, its state in fields and
// its methods shared (see SerialGenerator); each next() is one pull of the reader's next chunk.
import type { ReadOptions } from './_read-options.js';
import { SerialGenerator } from './_serial-generator.js';
import { EMPTY } from './_read-options.js';

/**
 * The reader's side of a pull: the next chunk now, or `undefined` after parking the read with
 * the iterator's `resolver()`/`rejecter()` (EMPTY at end-of-stream ends the iteration).
 */
export type PullChunk<R> = (
  reader: R,
  options: ReadOptions | undefined,
  iterator: ChunkIterator<R>,
) => Buffer | undefined;

/**
 * Raw chunks of a reader until end-of-stream.
 *
 * @example
 * ```ts
 * return new ChunkIterator(this, options, pullChunk); // in StreamReader#chunks()
 * ```
 */
export class ChunkIterator<R> extends SerialGenerator<Buffer> {
  readonly #reader: R;
  readonly #options: ReadOptions | undefined;
  readonly #pullChunk: PullChunk<R>;

  constructor(reader: R, options: ReadOptions | undefined, pullChunk: PullChunk<R>) {
    super(EMPTY);
    this.#reader = reader;
    this.#options = options;
    this.#pullChunk = pullChunk;
  }

  protected pull(): Buffer | undefined {
    return this.#pullChunk(this.#reader, this.#options, this);
  }
}
