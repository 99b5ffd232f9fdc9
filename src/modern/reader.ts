/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   Cancelled waits reject with `signal.reason` unchanged and stored errors are rethrown as given,
   whatever their type (DESIGN: "rejects with the signal's reason"). */
import { IncompleteReadError, InvalidStateError } from './errors.js';
import { ByteQueue } from './_byte-queue.js';
import { FlowControl } from './_flow-control.js';
import type { OwnedSignal } from './_owned-signal.js';
import { noneOrLiveOwner, ReadCancel, readSignal } from './_read-cancel.js';
import { capture, captured, release } from './_capture.js';
import { ChunkIterator, type PullChunk } from './_chunk-iterator.js';
import { isOneLine, searchSeparator } from './_separator-search.js';
import { checkInteger, checkPositiveInteger, toBytes, toSeparator } from './_validate.js';
import {
  EMPTY,
  NEWLINE,
  NONE,
  READ,
  READ_ALL,
  EXACTLY,
  UNTIL,
  LINE,
  CHUNK,
  NAMES,
} from './_read-options.js';
import type { FlowControlHooks, ReadOptions, StreamReaderOptions } from './_read-options.js';

export type { FlowControlHooks, ReadOptions, StreamReaderOptions } from './_read-options.js';

/** @internal A connection's own signal: reads passing it add no listener and read no getter. */
export let ownSignal: (reader: StreamReader, owned: OwnedSignal) => void;
/** @internal What `read(n)` settles with at once (undefined: it would wait); throws its error. */
export let readNow: (reader: StreamReader, n: number) => Buffer | undefined;
// StreamReader#pull for its ChunkIterators (assigned by the static block).
let pullChunk: PullChunk<StreamReader>;
// The queue of every reader not fed a byte yet (never pushed to: it stays empty).
const NO_BYTES = new ByteQueue();
const NO_EXCEPTION = Symbol('no exception');
type Resolve = (value: Buffer) => void;
type Reject = (error: unknown) => void;

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
 * - One read at a time: a read started while another one is pending rejects at once. A pending
 *   read that data completes takes its bytes inside {@link feedData} itself, so a read started
 *   after that call never takes them.
 * - Cancellation never loses data: an aborted read rejects with `signal.reason` and leaves every
 *   byte buffered.
 * - A stored exception ({@link setException}) is thrown by every later read, even when data is
 *   still buffered (as in asyncio).
 * - Cost follows bytes, however the input was cut: separator searches resume where they stopped
 *   and examine each byte about once, and small chunks that pile up are copied into one buffer.
 * - Bytes passed to {@link feedData} may be kept by reference (a chunk of 512 bytes or more, or
 *   one fed into an empty buffer) and reads may return views of them: do not modify a buffer after
 *   feeding it.
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

  // NO_BYTES (shared, never fed) until the first byte arrives: an idle reader has no queue.
  #queue = NO_BYTES;
  #eof = false;
  // NO_EXCEPTION until setException().
  #exception: unknown = NO_EXCEPTION;
  readonly #flow: FlowControl;

  // The pending read: set by a read method before its first step and cleared when it settles.
  // #resolve/#reject are null while the read's first step runs (it has not waited yet).
  #kind = NONE;
  #n = 0;
  #separator: Buffer = NEWLINE;
  // Everything before this offset has been searched already (asyncio's readuntil bookkeeping).
  #searchFrom = 0;
  #resolve: Resolve | null = null;
  #reject: Reject | null = null;
  // How the pending read listens to its signal: created by the first read that waits with one.
  #cancel: ReadCancel | null = null;

  static {
    ownSignal = (reader, owned) => reader.#readCancel().own(owned);
    pullChunk = (reader, options, iterator) => reader.#pull(CHUNK, 0, options, iterator);
    readNow = (reader, n) => reader.#pull(READ, n, undefined);
  }

  constructor(options: StreamReaderOptions = {}) {
    this.limit = checkPositiveInteger('limit', options.limit ?? 65536);
    this.#flow = new FlowControl(options);
  }

  /** How many bytes are buffered (read-only; for adapters, tests and diagnostics). */
  get bufferedLength(): number {
    return this.#queue.length;
  }

  /** Whether the reader has paused its transport (see {@link FlowControlHooks}). */
  get paused(): boolean {
    return this.#flow.paused;
  }

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
    this.#flow.set(hooks);
  }

  /**
   * Appends bytes to the buffer and completes the pending read if it can be (it takes its bytes
   * now). Empty data is ignored. Pauses the transport when more than 2 × `limit` bytes are
   * buffered and no read is waiting for more.
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
    const bytes = toBytes('data', data);
    if (this.#eof) throw new InvalidStateError('Cannot feed data: end-of-stream was already fed');
    if (bytes.length === 0) return;
    let queue = this.#queue;
    // A readLine() waiting on an empty buffer for a chunk that is exactly one line (a request of
    // a ping-pong protocol): it takes the chunk as it is.
    if (this.#kind === LINE && this.#resolve !== null && queue.length === 0) {
      if (isOneLine(bytes, this.limit)) {
        const resolve = this.#resolve;
        this.#clearPending();
        this.#flow.resume();
        resolve(bytes);
        return;
      }
    }
    if (queue === NO_BYTES) queue = this.#queue = new ByteQueue();
    queue.push(bytes);
    if (this.#resolve !== null) this.#wake();
    // A read still waiting needs more bytes than are buffered: the transport goes on.
    if (this.#kind === NONE) this.#flow.pauseOver(this.#queue.length, this.limit);
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
    if (this.#resolve !== null) this.#wake();
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
    if (this.#exception === NO_EXCEPTION) this.#exception = error;
    const reject = this.#reject;
    if (reject !== null) {
      this.#clearPending();
      reject(this.#exception);
    }
  }

  /** The error stored by {@link setException}, if any (`undefined` otherwise). */
  exception(): unknown {
    return this.#exception === NO_EXCEPTION ? undefined : this.#exception;
  }

  /** True when end-of-stream was fed and the buffer is empty. */
  atEof(): boolean {
    return this.#eof && this.#queue.length === 0;
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
  read(n = -1, options?: ReadOptions): Promise<Buffer> {
    return this.#read(n < 0 ? READ_ALL : READ, options, n, NEWLINE);
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
  readExactly(n: number, options?: ReadOptions): Promise<Buffer> {
    return this.#read(EXACTLY, options, n, NEWLINE);
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
    try {
      sep = toSeparator(separator);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#read(UNTIL, options, 0, sep);
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
    // Fast path (no signal, or context.signal): a burst's next whole line is in the head chunk.
    let from = 0;
    const fast = this.#kind === NONE && this.#exception === NO_EXCEPTION;
    if (fast && noneOrLiveOwner(options?.signal, this.#cancel)) {
      const index = this.#queue.indexOfInHead(0x0a);
      if (index !== -1 && index <= this.limit) return Promise.resolve(this.#take(index + 1));
      // The search goes on after the first chunk, or finds the same index past the limit.
      if (index === -1) from = this.#queue.headLength;
    }
    return this.#read(LINE, options, 0, NEWLINE, from);
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
      const line = await this.readLine();
      if (line.length === 0) return;
      yield line;
    }
  }

  /**
   * Raw chunks as they arrive, until end-of-stream, without copying what was kept by reference:
   * a chunk fed while the iterator waits is yielded as it was fed; bytes buffered when the
   * iterator asks come a buffered piece at a time (small chunks that piled up come joined).
   * `signal` cancels the pending wait and ends nothing else.
   *
   * @example
   * ```ts
   * for await (const chunk of reader.chunks()) writer.write(chunk);
   * ```
   */
  chunks(options?: ReadOptions): AsyncGenerator<Buffer, void, undefined> {
    return new ChunkIterator(this, options, pullChunk);
  }

  // A read(n) (READ) or a next() of chunks() (CHUNK) without a promise, with the checks of every
  // read: its result now (its step never throws), or undefined. Only with an iterator does it wait
  // (feedData()/feedEof() complete it with the iterator's callbacks; EMPTY ends chunks()).
  #pull(
    kind: number,
    n: number,
    options: ReadOptions | undefined,
    iterator?: ChunkIterator<StreamReader>,
  ): Buffer | undefined {
    const signal = this.#start(NAMES[kind]!, options);
    this.#kind = kind;
    this.#n = n;
    const value = this.#step();
    if (value !== undefined || iterator === undefined) {
      this.#kind = NONE;
      return value;
    }
    this.#park(signal, iterator.resolver(), iterator.rejecter());
    return undefined;
  }

  // Common entry checks of every read: no other read pending, no stored error, signal not aborted.
  #start(name: string, options: ReadOptions | undefined): AbortSignal | undefined {
    if (this.#kind !== NONE) {
      throw new InvalidStateError(
        `Cannot call ${name}(): another read is already waiting for data`,
      );
    }
    if (this.#exception !== NO_EXCEPTION) throw this.#exception;
    return readSignal(options?.signal, this.#cancel);
  }

  // Starts a read: its checks, then its first step, which settles it at once when it can;
  // otherwise it waits for feedData()/feedEof()/setException() or its signal.
  #read(
    kind: number,
    options: ReadOptions | undefined,
    n: number,
    separator: Buffer,
    from = 0,
  ): Promise<Buffer> {
    let signal: AbortSignal | undefined;
    try {
      signal = this.#start(NAMES[kind]!, options);
      if (kind === EXACTLY) checkInteger('n', n, 0, 'a non-negative integer');
      else if (kind <= READ_ALL) checkInteger('n', n, -Infinity, 'an integer');
    } catch (error) {
      return Promise.reject(error);
    }
    if (n === 0 && kind <= EXACTLY) return Promise.resolve(EMPTY);
    this.#kind = kind;
    this.#n = n;
    this.#separator = separator;
    this.#searchFrom = from;
    let value: Buffer | undefined;
    try {
      value = this.#step();
    } catch (error) {
      this.#kind = NONE;
      return Promise.reject(error);
    }
    if (value !== undefined) {
      this.#kind = NONE;
      return Promise.resolve(value);
    }
    const promise = new Promise<Buffer>(capture);
    this.#park(signal, captured.resolve as Resolve, captured.reject!);
    release();
    return promise;
  }

  // Makes the read in #kind wait. Only a read that waits listens to its signal.
  #park(signal: AbortSignal | undefined, resolve: Resolve, reject: Reject): void {
    this.#resolve = resolve;
    this.#reject = reject;
    if (signal !== undefined) this.#readCancel().watch(signal);
    // A read that has to wait needs more bytes than the buffer holds: let the transport go on.
    this.#flow.resume();
  }

  // New data or end-of-stream for the waiting read: it completes (taking its bytes now) or waits
  // on. #resolve is null while its step runs: data fed from a flow-control hook is only buffered.
  #wake(): void {
    const resolve = this.#resolve!;
    this.#resolve = null;
    let value: Buffer | undefined;
    try {
      value = this.#step();
    } catch (error) {
      const reject = this.#reject!;
      this.#clearPending();
      reject(error);
      return;
    }
    if (value === undefined) {
      this.#resolve = resolve;
      return;
    }
    this.#clearPending();
    resolve(value);
  }

  #clearPending(): void {
    this.#kind = NONE;
    this.#resolve = null;
    this.#reject = null;
    this.#cancel?.unwatch();
  }

  #readCancel(): ReadCancel {
    return (this.#cancel ??= new ReadCancel((reason) => {
      // The pending read's signal aborted: it rejects with the reason, its bytes stay buffered.
      const reject = this.#reject!;
      this.#clearPending();
      reject(reason);
    }));
  }

  // One attempt of the pending read: its result, or undefined when it must wait for more data.
  // Throws the read's errors (LimitOverrunError, IncompleteReadError).
  #step(): Buffer | undefined {
    const length = this.#queue.length;
    switch (this.#kind) {
      case LINE:
      case UNTIL:
        return this.#searchStep();
      case READ:
        if (length > 0) return this.#take(this.#n < length ? this.#n : length);
        return this.#eof ? EMPTY : undefined;
      case EXACTLY:
        if (length >= this.#n) return this.#take(this.#n);
        if (this.#eof) throw new IncompleteReadError(this.#take(length), this.#n);
        return undefined;
      case READ_ALL:
        return this.#eof ? this.#take(length) : undefined;
      default:
        // CHUNK: an empty Buffer means end-of-stream.
        if (length > 0) return this.#released(this.#queue.takeChunk());
        return this.#eof ? EMPTY : undefined;
    }
  }

  // readUntil()/readLine(): a look for the separator (see searchSeparator()), then end-of-stream.
  #searchStep(): Buffer | undefined {
    const queue = this.#queue;
    const found = searchSeparator(
      queue,
      this.#separator,
      this.#searchFrom,
      this.limit,
      NAMES[this.#kind]!,
    );
    if (found > 0) return this.#take(found);
    this.#searchFrom = 0 - found; // not -found: a -0 would make the field a boxed double
    if (!this.#eof) return undefined;
    const partial = this.#take(queue.length);
    if (this.#kind === LINE) return partial;
    throw new IncompleteReadError(partial, null);
  }

  // Removes and returns the first `n` buffered bytes (n <= length).
  #take(n: number): Buffer {
    return this.#released(this.#queue.take(n));
  }

  // Resumes a paused transport once the buffer is back to `limit` bytes or fewer; returns `out`.
  #released(out: Buffer): Buffer {
    this.#flow.resumeUnder(this.#queue.length, this.limit);
    return out;
  }
}
