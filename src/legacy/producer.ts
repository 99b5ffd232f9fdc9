import { toBuffer, validatePositiveInteger } from './_bytes.js';

/**
 * A source of outgoing data for `AsyncChat.pushWithProducer()` (asynchat's producer protocol):
 * each `more()` returns the next piece, and an empty one when it is exhausted. Strings are
 * encoded as UTF-8.
 *
 * @example
 * ```ts
 * const lines = ['a\n', 'b\n'];
 * const producer: Producer = { more: () => lines.shift() ?? '' };
 * chat.pushWithProducer(producer);
 * ```
 */
export interface Producer {
  /** The next piece of output; an empty one when the producer is exhausted. */
  more(): Uint8Array | string;
}

/**
 * A {@link Producer} that hands out `data` in pieces of at most `bufferSize` bytes
 * (asynchat's `simple_producer`). A string is encoded as UTF-8 up front, so pieces are bytes.
 *
 * @throws {TypeError} If `data` is neither a Uint8Array nor a string.
 * @throws {RangeError} If `bufferSize` is not a positive integer.
 *
 * @example
 * ```ts
 * const producer = new SimpleProducer('hello world', 5);
 * producer.more(); // <Buffer 'hello'>
 * producer.more(); // <Buffer ' worl'>
 * producer.more(); // <Buffer 'd'>
 * producer.more(); // <Buffer > (exhausted)
 * ```
 */
export class SimpleProducer implements Producer {
  #data: Buffer;
  readonly #bufferSize: number;

  constructor(data: Uint8Array | string, bufferSize = 512) {
    this.#data = toBuffer(data, 'SimpleProducer');
    this.#bufferSize = validatePositiveInteger(bufferSize, 'bufferSize');
  }

  /** The next at most `bufferSize` bytes; an empty Buffer once all were given. */
  more(): Buffer {
    const data = this.#data;
    if (data.length > this.#bufferSize) {
      this.#data = data.subarray(this.#bufferSize);
      return data.subarray(0, this.#bufferSize);
    }
    this.#data = data.subarray(data.length);
    return data;
  }
}
