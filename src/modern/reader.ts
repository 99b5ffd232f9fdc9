/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   Cancelled waits reject with `signal.reason` unchanged and stored errors are rethrown as given,
   whatever their type (DESIGN: "rejects with the signal's reason"). */
import { IncompleteReadError, LimitOverrunError } from './errors.js';
import { readerStats } from './_stats.js';
import { checkInteger, checkPositiveInteger, checkSignal, describeValue } from './_validate.js';

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
 * The reader calls `pause()` when it holds more than 2 × `limit` bytes, and `resume()` once a read
 * brings it back to `limit` bytes or fewer (or when a read has to wait for more data). Calls
 * alternate: never two `pause()` in a row.
 */
export interface FlowControlHooks {
  pause?: (() => void) | undefined;
  resume?: (() => void) | undefined;
}

/** Options of {@link StreamReader}. */
export interface StreamReaderOptions extends FlowControlHooks {
  /** Buffer limit in bytes, for separator searches and flow control. Default 65536 (asyncio's). */
  limit?: number | undefined;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

const EMPTY = Buffer.alloc(0);
const NEWLINE = Buffer.from('\n');
// Compact the chunk list once this many consumed slots sit at its front.
const COMPACT_AT = 1024;

/**
 * An asyncio-style stream reader: a buffer of incoming bytes with awaitable reads.
 *
 * Two faces, as in asyncio. Applications call the read side: {@link read}, {@link readLine},
 * {@link readUntil}, {@link readExactly}, {@link atEof}, `for await (const line of reader)` and
 * {@link chunks}. Transports and adapters call the producer side: {@link feedData},
 * {@link feedEof}, {@link setException}, and give the reader flow-control hooks (constructor
 * options `pause`/`resume`, or {@link setTransport}).
 *
 * Rules:
 * - One read at a time: a read started while another one waits for data rejects at once.
 * - Cancellation never loses data: an aborted read rejects with `signal.reason` and leaves every
 *   byte buffered.
 * - A stored exception ({@link setException}) is thrown by every later read, even when data is
 *   still buffered (as in asyncio).
 * - Bytes passed to {@link feedData} are kept by reference, not copied, and reads may return views
 *   of them: do not modify a buffer after feeding it.
 *
 * @example
 * ```ts
 * const reader = new StreamReader();
 * reader.feedData(Buffer.from('HELO example.org\r\nQUIT\r\n'));
 * reader.feedEof();
 * await reader.readUntil('\r\n'); // <Buffer 'HELO example.org\r\n'>
 * for await (const line of reader) console.log(line.toString()); // 'QUIT\r\n'
 * ```
 */
export class StreamReader implements AsyncIterable<Buffer> {
  /** The buffer limit in bytes (see {@link StreamReaderOptions.limit}). */
  readonly limit: number;

  // The buffered bytes are #chunks[#head..] minus the first #offset bytes of #chunks[#head];
  // #length is their total and must always equal that sum. No chunk in the list is empty.
  #chunks: Buffer[] = [];
  #head = 0;
  #offset = 0;
  #length = 0;
  #eof = false;
  #failed = false;
  #exception: unknown = undefined;
  // The single pending read, if any (a second read while this is set is a usage error).
  #waiter: Waiter | null = null;
  // True between a pause() and the next resume() call on the hooks.
  #paused = false;
  #pause: (() => void) | undefined;
  #resume: (() => void) | undefined;
  // How far the pending readLine() has searched already (see #lineStep()).
  #lineOffset = 0;
  // The settle functions of a pending readLine() without a signal, and its waiter, allocated
  // once per reader rather than once per line.
  #lineResolve: ((line: Buffer) => void) | null = null;
  #lineReject: ((error: unknown) => void) | null = null;
  #lineWaiter: Waiter = {
    resolve: () => {
      let line: Buffer | undefined;
      try {
        line = this.#lineStep();
      } catch (error) {
        this.#lineWaiter.reject(error);
        return;
      }
      if (line === undefined) {
        this.#parkWaiter(this.#lineWaiter);
        return;
      }
      const resolve = this.#lineResolve!;
      this.#lineResolve = null;
      this.#lineReject = null;
      resolve(line);
    },
    reject: (error) => {
      const reject = this.#lineReject!;
      this.#lineResolve = null;
      this.#lineReject = null;
      reject(error);
    },
  };

  constructor(options: StreamReaderOptions = {}) {
    this.limit = checkPositiveInteger('limit', options.limit ?? 65536);
    this.#pause = options.pause;
    this.#resume = options.resume;
  }

  /** How many bytes are buffered (read-only; for adapters, tests and diagnostics). */
  get bufferedLength(): number {
    return this.#length;
  }

  /** Whether the reader has paused its transport (see {@link FlowControlHooks}). */
  get paused(): boolean {
    return this.#paused;
  }

  // ---------------------------------------------------------------- producer side

  /**
   * Sets (or replaces, or with `null` removes) the flow-control hooks after construction. If the
   * reader currently holds the transport paused, the new hooks inherit that state: call
   * {@link paused} to know whether to pause the new transport.
   *
   * @example
   * ```ts
   * const reader = new StreamReader({ limit: 1024 });
   * reader.setTransport({ pause: () => socket.pause(), resume: () => socket.resume() });
   * ```
   */
  setTransport(hooks: FlowControlHooks | null): void {
    this.#pause = hooks?.pause;
    this.#resume = hooks?.resume;
  }

  /**
   * Appends bytes to the buffer and wakes the pending read. Empty data is ignored. Pauses the
   * transport when more than 2 × `limit` bytes are buffered.
   *
   * @throws {TypeError} If `data` is not a Uint8Array.
   * @throws {Error} If end-of-stream was already fed.
   *
   * @example
   * ```ts
   * socket.on('data', (chunk: Buffer) => reader.feedData(chunk));
   * ```
   */
  feedData(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`Expected \`data\` to be a Uint8Array, got ${describeValue(data)}`);
    }
    if (this.#eof) throw new Error('Cannot feed data: end-of-stream was already fed');
    if (data.length === 0) return;
    const chunk = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    this.#wake();
    if (!this.#paused && this.#length > 2 * this.limit) {
      this.#paused = true;
      this.#pause?.();
    }
  }

  /**
   * Marks end-of-stream: reads return what is left, then empty (or reject, see each read).
   * Calling it again is harmless.
   *
   * @example
   * ```ts
   * socket.on('end', () => reader.feedEof());
   * ```
   */
  feedEof(): void {
    this.#eof = true;
    this.#wake();
  }

  /**
   * Stores an error: the pending read and every later read reject with it (asyncio rule: even if
   * data is still buffered). The first stored error wins.
   *
   * @example
   * ```ts
   * socket.on('error', (error) => reader.setException(error));
   * ```
   */
  setException(error: unknown): void {
    if (!this.#failed) {
      this.#failed = true;
      this.#exception = error;
    }
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter.reject(this.#exception);
    }
  }

  /** The error stored by {@link setException}, if any (`undefined` otherwise). */
  exception(): unknown {
    return this.#exception;
  }

  // ---------------------------------------------------------------- read side

  /** True when end-of-stream was fed and the buffer is empty. */
  atEof(): boolean {
    return this.#eof && this.#length === 0;
  }

  /**
   * Reads up to `n` bytes, as soon as any are available.
   *
   * - `n > 0`: waits until at least one byte is buffered (or end-of-stream), returns up to `n`.
   * - `n = 0`: an empty Buffer at once.
   * - `n < 0` (default -1): waits for end-of-stream and returns everything. While it waits, the
   *   transport is not paused, so memory grows with the stream: use it for bounded streams only.
   *
   * Returns an empty Buffer at end-of-stream.
   *
   * @example
   * ```ts
   * const head = await reader.read(512, { signal: AbortSignal.timeout(1_000) });
   * const rest = await reader.read(); // until end-of-stream
   * ```
   */
  async read(n = -1, options?: ReadOptions): Promise<Buffer> {
    const signal = this.#start('read', options);
    checkInteger('n', n, -Infinity, 'an integer');
    if (n === 0) return EMPTY;
    if (n < 0) {
      while (!this.#eof) await this.#waitForData('read', signal);
      return this.#take(this.#length);
    }
    while (this.#length === 0) {
      if (this.#eof) return EMPTY;
      await this.#waitForData('read', signal);
    }
    return this.#take(n < this.#length ? n : this.#length);
  }

  /**
   * Reads exactly `n` bytes.
   *
   * @throws {IncompleteReadError} At end-of-stream before `n` bytes; `partial` holds (and
   * consumes) what was buffered.
   * @throws {RangeError} If `n` is negative or not an integer.
   *
   * @example
   * ```ts
   * const header = await reader.readExactly(4);
   * const body = await reader.readExactly(header.readUInt32BE(0));
   * ```
   */
  async readExactly(n: number, options?: ReadOptions): Promise<Buffer> {
    const signal = this.#start('readExactly', options);
    checkInteger('n', n, 0, 'a non-negative integer');
    if (n === 0) return EMPTY;
    while (this.#length < n) {
      if (this.#eof) throw new IncompleteReadError(this.#take(this.#length), n);
      await this.#waitForData('readExactly', signal);
    }
    return this.#take(n);
  }

  /**
   * Reads through the next `separator` and returns the bytes including it.
   *
   * @throws {LimitOverrunError} If no separator is found within `limit` bytes (or the separator
   * ends past `limit`): the data stays buffered and `consumed` tells how far it looked.
   * @throws {IncompleteReadError} At end-of-stream before a separator; `partial` holds (and
   * consumes) what was buffered, as in asyncio.
   * @throws {RangeError} If `separator` is empty.
   *
   * @example
   * ```ts
   * const line = await reader.readUntil('\r\n');
   * ```
   */
  readUntil(separator: string | Uint8Array, options?: ReadOptions): Promise<Buffer> {
    let sep: Buffer;
    if (typeof separator === 'string') sep = Buffer.from(separator);
    else if (separator instanceof Uint8Array) {
      sep = Buffer.from(separator.buffer, separator.byteOffset, separator.byteLength);
    } else {
      return Promise.reject(
        new TypeError(
          `Expected \`separator\` to be a string or a Uint8Array, got ${describeValue(separator)}`,
        ),
      );
    }
    if (sep.length === 0) {
      return Promise.reject(
        new RangeError('Expected `separator` to be non-empty, got `` (string)'),
      );
    }
    return this.#readUntil('readUntil', sep, options, false);
  }

  /**
   * Reads one line, through `"\n"`. At end-of-stream returns what is left without a newline, then
   * an empty Buffer.
   *
   * Deviation from asyncio (which discards the line and raises `ValueError`): a line longer than
   * `limit` rejects with {@link LimitOverrunError} and KEEPS the data buffered, so the caller can
   * skip it (`readExactly(error.consumed)`) or read it in pieces (`read(n)`).
   *
   * @example
   * ```ts
   * const line = await reader.readLine({ signal: context.signal });
   * if (line.length === 0) return; // end-of-stream
   * ```
   */
  readLine(options?: ReadOptions): Promise<Buffer> {
    // Fast path, the common case of a server reading a burst of lines: a whole line already sits
    // in the first chunk, so no async machinery is needed.
    if (this.#waiter === null && !this.#failed && this.#length > 0) {
      const signal = options?.signal;
      if (signal === undefined || (signal instanceof AbortSignal && !signal.aborted)) {
        const first = this.#chunks[this.#head]!;
        const start = this.#offset;
        const found = first.indexOf(0x0a, start);
        if (found !== -1 && found - start <= this.limit) {
          readerStats.bytesScanned += found + 1 - start;
          return Promise.resolve(this.#take(found + 1 - start));
        }
      }
    }
    // The same steps as #readUntil('readLine', ...), without an async function: when the read has
    // to wait, the producer side completes it in feedData()/feedEof(), one promise per line.
    let signal: AbortSignal | undefined;
    let line: Buffer | undefined;
    try {
      signal = this.#start('readLine', options);
      this.#lineOffset = 0;
      line = this.#lineStep();
    } catch (error) {
      return Promise.reject(error);
    }
    if (line !== undefined) return Promise.resolve(line);
    return new Promise<Buffer>((resolve, reject) => {
      this.#waitLine(resolve, reject, signal);
    });
  }

  /**
   * Lines until end-of-stream, like `async for line in reader` (each includes its `"\n"`, except
   * possibly the last). Breaking out of the loop leaves the rest buffered.
   *
   * @example
   * ```ts
   * for await (const line of reader) writer.write(line);
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      // readLine()'s fast paths: a buffered line costs no extra wait.
      const line = await this.readLine();
      if (line.length === 0) return;
      yield line;
    }
  }

  /**
   * Raw chunks as they arrive (what is buffered when the iterator asks, a chunk at a time, without
   * copying), until end-of-stream. `signal` cancels the pending wait and ends nothing else.
   *
   * @example
   * ```ts
   * for await (const chunk of reader.chunks()) writer.write(chunk);
   * ```
   */
  chunks(options?: ReadOptions): AsyncGenerator<Buffer, void, undefined> {
    // A hand-written async generator (an `async function*` costs several promises and microtask
    // hops per chunk): a buffered chunk is returned at once, and a waiting next() is completed by
    // feedData()/feedEof() directly. Generator semantics are kept: the checks of every read run
    // at each next(), an error ends the iteration, next() calls made while one is pending run in
    // turn, and return()/throw() end it.
    let finished = false;
    let pending: Promise<IteratorResult<Buffer, void>> | null = null;
    // The settle functions of the pending next(); the waiter and abort listener below are
    // allocated once per iterator, not once per chunk.
    let resolveNext: ((result: IteratorResult<Buffer, void>) => void) | null = null;
    let rejectNext: ((error: unknown) => void) | null = null;
    let signal: AbortSignal | undefined;
    const done = (): IteratorResult<Buffer, void> => ({ done: true, value: undefined });
    const settle = (result: IteratorResult<Buffer, void> | undefined, error?: unknown): void => {
      signal?.removeEventListener('abort', onAbort);
      const resolve = resolveNext!;
      const reject = rejectNext!;
      resolveNext = null;
      rejectNext = null;
      pending = null;
      if (result === undefined || result.done === true) finished = true;
      if (result === undefined) reject(error);
      else resolve(result);
    };
    const waiter: Waiter = {
      resolve: () => {
        if (this.#length === 0 && !this.#eof) {
          this.#parkWaiter(waiter);
          return;
        }
        settle(this.#length > 0 ? { done: false, value: this.#takeChunk() } : done());
      },
      reject: (error) => settle(undefined, error),
    };
    const onAbort = (): void => {
      if (this.#waiter === waiter) this.#waiter = null;
      settle(undefined, signal?.reason);
    };
    const step = (): Promise<IteratorResult<Buffer, void>> => {
      if (finished) return Promise.resolve(done());
      try {
        signal = this.#start('chunks', options);
      } catch (error) {
        finished = true;
        return Promise.reject(error);
      }
      if (this.#length > 0) return Promise.resolve({ done: false, value: this.#takeChunk() });
      if (this.#eof) {
        finished = true;
        return Promise.resolve(done());
      }
      const waiting = new Promise<IteratorResult<Buffer, void>>((resolve, reject) => {
        resolveNext = resolve;
        rejectNext = reject;
      });
      pending = waiting;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#parkWaiter(waiter);
      return waiting;
    };
    const after = <T>(then: () => Promise<T>): Promise<T> => {
      const previous = pending;
      if (previous === null) return then();
      return previous.then(then, then);
    };
    const iterator: AsyncGenerator<Buffer, void, undefined> = {
      next: () => after(step),
      return: (value?: void | PromiseLike<void>) =>
        after(async () => {
          finished = true;
          await value;
          return done();
        }),
      throw: (error: unknown) =>
        after(() => {
          finished = true;
          return Promise.reject(error);
        }),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  // ---------------------------------------------------------------- internals

  // Common entry checks of every read: no other read waiting, no stored error, signal not aborted.
  #start(name: string, options: ReadOptions | undefined): AbortSignal | undefined {
    if (this.#waiter !== null) {
      throw new Error(`Cannot call ${name}(): another read is already waiting for data`);
    }
    if (this.#failed) throw this.#exception;
    const signal = checkSignal(options?.signal);
    if (signal?.aborted) throw signal.reason;
    return signal;
  }

  async #readUntil(
    name: string,
    sep: Buffer,
    options: ReadOptions | undefined,
    partialAtEof: boolean,
  ): Promise<Buffer> {
    const signal = this.#start(name, options);
    const sepLength = sep.length;
    // Everything before `offset` has been searched already (asyncio's readuntil bookkeeping).
    let offset = 0;
    let index: number;
    for (;;) {
      if (this.#length - offset >= sepLength) {
        index = this.#find(sep, offset);
        if (index !== -1) break;
        offset = this.#length + 1 - sepLength;
        if (offset > this.limit) {
          throw new LimitOverrunError(
            `Cannot ${name}(): no separator found within the limit of ${this.limit} bytes`,
            offset,
          );
        }
      }
      if (this.#eof) {
        const partial = this.#take(this.#length);
        if (partialAtEof) return partial;
        throw new IncompleteReadError(partial, null);
      }
      await this.#waitForData(name, signal);
    }
    if (index > this.limit) {
      throw new LimitOverrunError(
        `Cannot ${name}(): the separator was found past the limit of ${this.limit} bytes`,
        index,
      );
    }
    return this.#take(index + sepLength);
  }

  // One step of readLine(): the line (possibly the partial last one at end-of-stream, or empty),
  // or undefined when it has to wait for more data. Throws LimitOverrunError like #readUntil.
  #lineStep(): Buffer | undefined {
    const offset = this.#lineOffset;
    if (this.#length > offset) {
      const index = this.#find(NEWLINE, offset);
      if (index !== -1) {
        if (index > this.limit) {
          throw new LimitOverrunError(
            `Cannot readLine(): the separator was found past the limit of ${this.limit} bytes`,
            index,
          );
        }
        return this.#take(index + 1);
      }
      this.#lineOffset = this.#length;
      if (this.#length > this.limit) {
        throw new LimitOverrunError(
          `Cannot readLine(): no separator found within the limit of ${this.limit} bytes`,
          this.#length,
        );
      }
    }
    if (this.#eof) return this.#take(this.#length);
    return undefined;
  }

  // Waits (as #waitForData) until #lineStep() has a result, then settles the readLine() promise.
  #waitLine(
    resolve: (line: Buffer) => void,
    reject: (error: unknown) => void,
    signal: AbortSignal | undefined,
  ): void {
    if (signal === undefined) {
      this.#lineResolve = resolve;
      this.#lineReject = reject;
      this.#parkWaiter(this.#lineWaiter);
      return;
    }
    const waiter: Waiter = {
      resolve: () => {
        let line: Buffer | undefined;
        try {
          line = this.#lineStep();
        } catch (error) {
          waiter.reject(error);
          return;
        }
        if (line === undefined) {
          this.#parkWaiter(waiter);
          return;
        }
        signal?.removeEventListener('abort', onAbort);
        resolve(line);
      },
      reject: (error) => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      },
    };
    const onAbort = (): void => {
      if (this.#waiter === waiter) this.#waiter = null;
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#parkWaiter(waiter);
  }

  // Installs `waiter` as the pending read, after #waitForData's checks (the caller has just run
  // #start(), or is the waiter itself being woken, so no other read is pending).
  #parkWaiter(waiter: Waiter): void {
    if (this.#failed) {
      waiter.reject(this.#exception);
      return;
    }
    // A read that has to wait needs more bytes than the buffer holds: let the transport go on.
    if (this.#paused) {
      this.#paused = false;
      this.#resume?.();
    }
    this.#waiter = waiter;
  }

  // The rest of the first buffered chunk (#length > 0), without copying.
  #takeChunk(): Buffer {
    const first = this.#chunks[this.#head]!;
    const available = first.length - this.#offset;
    return this.#take(available < this.#length ? available : this.#length);
  }

  // The index (from the start of the buffer) of the first `sep` at or after `from`, or -1.
  #find(sep: Buffer, from: number): number {
    const chunks = this.#chunks;
    const sepLength = sep.length;
    // Walk back from the last chunk to the one holding `from`: searches resume near the end, so
    // this costs O(chunks since the last search), not O(all chunks).
    let i = chunks.length - 1;
    let base = this.#length - chunks[i]!.length;
    while (i > this.#head && base > from) {
      i--;
      base -= chunks[i]!.length;
    }
    for (; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      const start = from > base ? from - base : i === this.#head ? this.#offset : 0;
      if (sepLength === 1) {
        const found = chunk.indexOf(sep[0]!, start);
        readerStats.bytesScanned += (found === -1 ? chunk.length : found + 1) - start;
        if (found !== -1) return base + found;
      } else {
        const found = chunk.indexOf(sep, start);
        readerStats.bytesScanned += (found === -1 ? chunk.length : found + sepLength) - start;
        if (found !== -1) return base + found;
        // A separator that starts in this chunk and ends in a later one.
        const tail = chunk.length - sepLength + 1;
        for (let p = start > tail ? start : tail; p < chunk.length; p++) {
          readerStats.bytesScanned++;
          if (this.#matchesAt(sep, i, p)) return base + p;
        }
      }
      base += chunk.length;
    }
    return -1;
  }

  #matchesAt(sep: Buffer, chunkIndex: number, position: number): boolean {
    const chunks = this.#chunks;
    let i = chunkIndex;
    let chunk = chunks[i]!;
    let p = position;
    for (let k = 0; k < sep.length; k++, p++) {
      while (p >= chunk.length) {
        i++;
        if (i >= chunks.length) return false;
        chunk = chunks[i]!;
        p = 0;
      }
      if (chunk[p] !== sep[k]) return false;
    }
    return true;
  }

  // Removes and returns the first `n` buffered bytes (n <= #length): a view when they sit in one
  // chunk, one copy otherwise.
  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.#chunks[this.#head]!;
    let out: Buffer;
    if (n < first.length - this.#offset) {
      out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
    } else if (n === first.length - this.#offset) {
      out = this.#offset === 0 ? first : first.subarray(this.#offset);
      this.#dropHead();
    } else {
      out = Buffer.allocUnsafe(n);
      let copied = 0;
      while (copied < n) {
        // Not cached outside the loop: #dropHead() may compact the list.
        const chunk = this.#chunks[this.#head]!;
        const available = chunk.length - this.#offset;
        const wanted = n - copied;
        if (wanted < available) {
          chunk.copy(out, copied, this.#offset, this.#offset + wanted);
          this.#offset += wanted;
          copied = n;
        } else {
          chunk.copy(out, copied, this.#offset);
          copied += available;
          this.#dropHead();
        }
      }
    }
    this.#length -= n;
    if (this.#paused && this.#length <= this.limit) {
      this.#paused = false;
      this.#resume?.();
    }
    return out;
  }

  #dropHead(): void {
    this.#chunks[this.#head] = EMPTY;
    this.#head++;
    this.#offset = 0;
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter.resolve();
    }
  }

  // Waits until data, end-of-stream or an error arrives. The abort listener is removed on every
  // path; an abort leaves the buffer untouched.
  #waitForData(name: string, signal: AbortSignal | undefined): Promise<void> {
    if (this.#waiter !== null) {
      return Promise.reject(
        new Error(`Cannot call ${name}(): another read is already waiting for data`),
      );
    }
    if (this.#failed) return Promise.reject(this.#exception);
    if (signal?.aborted) return Promise.reject(signal.reason);
    // A read that has to wait needs more bytes than the buffer holds: let the transport go on.
    if (this.#paused) {
      this.#paused = false;
      this.#resume?.();
    }
    return new Promise<void>((resolve, reject) => {
      if (signal === undefined) {
        this.#waiter = { resolve, reject };
        return;
      }
      const onAbort = (): void => {
        if (this.#waiter === waiter) this.#waiter = null;
        reject(signal.reason);
      };
      const waiter: Waiter = {
        resolve() {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject(error) {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiter = waiter;
    });
  }
}
