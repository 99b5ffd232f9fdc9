import { EMPTY, describeValue, toBuffer } from './_bytes.js';
import { Incoming } from './_incoming.js';
import { kAfterRound, kAtEof, kQueued, kRoundEnd, kTakeOutput } from './_internal.js';
import { Fifo } from './_fifo.js';
import { Dispatcher, type DispatcherOptions } from './dispatcher.js';
import type { Producer } from './producer.js';
import { InvalidArgumentError, InvalidStateError, OutOfRangeError } from '../errors.js';

/** Options of the {@link AsyncChat} constructor. */
export interface AsyncChatOptions extends DispatcherOptions {
  /**
   * The most bytes collected while waiting for a byte-string terminator (one "line"). A longer
   * message is reported once, `handleError(new LimitOverrunError(...))` (default: the connection
   * closes), and discarded up to its terminator: none of it reaches `collectIncomingData()`, and
   * the messages after it arrive intact. `Infinity` turns the bound off. Default 1 MiB.
   */
  maxIncoming?: number;
}

// The last short string push()ed and its UTF-8 bytes: protocols push the same few strings ("\n",
// "\r\n", "250 OK\r\n") over and over. The bytes are only ever read, never modified, so one Buffer
// can sit in several queues at once.
let lastString = '';
let lastBytes: Buffer = EMPTY;
// The same for setTerminator(): every connection of a protocol sets the same one ("\r\n"), and
// the framing only reads it (getTerminator() hands out a copy), so the chats share its bytes.
let lastTerminator = '';
let lastTerminatorBytes: Buffer = EMPTY;

// The default `maxIncoming`.
const DEFAULT_MAX_INCOMING = 1024 * 1024;

// The deferred and direct sends from the queue: a symbol-keyed method, not a `#private()` one
// (which would give every chat a brand slot); not exported, so user code cannot reach it.
const kSendQueue: unique symbol = Symbol('dispatch-bridge.sendQueue');

function isProducer(item: Buffer | Producer): item is Producer {
  return !Buffer.isBuffer(item);
}

/**
 * A {@link Dispatcher} that frames its input by a terminator and queues its output: asynchat's
 * `async_chat`.
 *
 * Input: every received byte goes to `collectIncomingData()`, and `foundTerminator()` runs at each
 * terminator (which is not passed on). The terminator can change at any time (e.g. from
 * `foundTerminator()`), which is how a protocol switches from lines to a counted body:
 * - a string or bytes: searched across chunk boundaries (a partial terminator at the end of a
 *   chunk is held back until the next one). Strings are encoded as UTF-8.
 * - a number `n`: the next `n` bytes are collected, then `foundTerminator()` runs and the
 *   terminator becomes `0` (which, as in asynchat, then collects everything like `null`).
 * - `null` (the initial state): everything is collected, `foundTerminator()` never runs.
 *
 * At end-of-stream, bytes still held back go to `collectIncomingData()` before `handleClose()`
 * (asynchat dropped them). `collectIncomingData()` is never called with an empty chunk.
 *
 * Bounded input, whatever the peer sends:
 * - While waiting for a byte-string terminator with a finite `maxIncoming`, a message is held
 *   until its terminator and then handed over in a few large pieces (a message that arrived in
 *   one read, as one piece). A message longer than `maxIncoming` is reported once
 *   (`handleError(LimitOverrunError)`) and discarded up to its terminator; a `handleError()` that
 *   does not close (a server answering "line too long") loses only that message.
 * - Small reads are coalesced: a peer sending one byte per TCP segment costs memory in
 *   proportion to its bytes, here and in the pieces `collectIncomingData()` keeps. With a numeric
 *   terminator (or `maxIncoming: Infinity`) pieces are handed over as they fill (16 KiB) and at
 *   the terminator; with `null` every read is handed over at once.
 *
 * Output: `push()` and `pushWithProducer()` queue data (strings as UTF-8); it is sent as the
 * transport takes it, in order; `closeWhenDone()` closes once everything queued has been sent.
 *
 * Lifecycle (asynchat's quirks guarded):
 * - `close()` never drops what was queued: the queue (producers drained, up to a
 *   `closeWhenDone()` mark) is sent after the dispatcher closed, then end-of-stream, within
 *   `lingerTimeout` without progress. So the default `handleClose()` at the peer's end-of-stream
 *   (a client that sends everything, half-closes, then reads) still answers every request read.
 *   `discardBuffers()` before `close()` is the way to drop it.
 * - Bounded output: while more than `maxOutgoing` queued bytes (default 1 MiB) wait, nothing is
 *   read, so a pipelining client that never reads is pushed back by TCP; `Infinity` restores
 *   asynchat's unbounded queue.
 *
 * @example
 * ```ts
 * class LineEcho extends AsyncChat {
 *   #parts: Buffer[] = [];
 *   constructor(options: AsyncChatOptions) { super(options); this.setTerminator('\n'); }
 *   override collectIncomingData(data: Buffer) { this.#parts.push(data); }
 *   override foundTerminator() {
 *     const line = Buffer.concat(this.#parts.splice(0)).toString();
 *     if (line === 'quit') this.closeWhenDone();
 *     else this.push(`${line}\n`);
 *   }
 * }
 * ```
 */
export class AsyncChat extends Dispatcher {
  /** How many bytes one `handleRead()` receives at most (asynchat `ac_in_buffer_size`). */
  declare acInBufferSize: number;
  /** How many bytes one send takes from the queue at most (asynchat `ac_out_buffer_size`). */
  declare acOutBufferSize: number;
  /** The bound on one message's size while waiting for a byte-string terminator. */
  declare readonly maxIncoming: number;

  // The input side: terminator, held-back bytes, the current message, the maxIncoming rule.
  // Created on the first input (a connection that never sent anything holds none); until then
  // the same field holds the terminator setTerminator() set (one field per chat, not two).
  #in: Incoming | Buffer | number | null = null;
  // The output queue, created on the first push(): a connection that never answered holds none.
  #fifo: Outgoing | null = null;
  /** @internal The deferred send: once the round's handlers ran (or at the end of the tick). */
  override [kRoundEnd](): void {
    const fifo = this.#fifo;
    if (fifo === null || !fifo.sendScheduled) return;
    fifo.sendScheduled = false;
    if (!this.closed) this[kSendQueue](true);
  }

  constructor(options: AsyncChatOptions = {}) {
    super(options);
    const maxIncoming = options.maxIncoming ?? DEFAULT_MAX_INCOMING;
    if (
      typeof maxIncoming !== 'number' ||
      !(Number.isSafeInteger(maxIncoming) || maxIncoming === Infinity) ||
      maxIncoming <= 0
    ) {
      throw new OutOfRangeError(
        `Expected \`maxIncoming\` to be a positive integer or Infinity, got \`${describeValue(maxIncoming)}\` (${typeof maxIncoming})`,
      );
    }
    if (maxIncoming !== DEFAULT_MAX_INCOMING) this.maxIncoming = maxIncoming;
  }

  /**
   * Set the input terminator: a string (UTF-8) or bytes, a byte count, or null.
   *
   * @throws {RangeError} If a number is negative or not an integer.
   * @throws {TypeError} For any other type.
   *
   * @example
   * ```ts
   * this.setTerminator('\r\n');      // lines
   * this.setTerminator(contentLength); // then a counted body
   * ```
   */
  setTerminator(terminator: string | Uint8Array | number | null): void {
    let checked: Buffer | number | null;
    if (terminator === null) {
      checked = null;
    } else if (typeof terminator === 'number') {
      if (!Number.isSafeInteger(terminator) || terminator < 0) {
        throw new OutOfRangeError(
          `Expected \`terminator\` to be a non-negative integer, got \`${terminator}\` (number)`,
        );
      }
      checked = terminator;
    } else if (typeof terminator === 'string') {
      if (terminator !== lastTerminator) {
        lastTerminatorBytes = Buffer.from(terminator, 'utf8');
        lastTerminator = terminator;
      }
      checked = lastTerminatorBytes;
    } else if (terminator instanceof Uint8Array) {
      // A copy: the caller may reuse its array.
      checked = Buffer.from(terminator);
    } else {
      throw new InvalidArgumentError(
        `Expected \`terminator\` to be a string, a Uint8Array, a number or null, got \`${describeValue(terminator)}\` (${typeof terminator})`,
      );
    }
    const input = this.#in;
    if (input instanceof Incoming) input.setTerminator(checked);
    else this.#in = checked;
  }

  /** The current terminator: bytes (a copy), the count still to collect, or null. */
  getTerminator(): Buffer | number | null {
    const input = this.#in;
    const terminator = input instanceof Incoming ? input.terminator : input;
    return Buffer.isBuffer(terminator) ? Buffer.from(terminator) : terminator;
  }

  /** Receives each piece of input (never empty). Override it; the default throws. */
  collectIncomingData(_data: Buffer): void {
    throw new InvalidStateError(
      'Cannot collect incoming data: override collectIncomingData() in a subclass',
    );
  }

  /** Runs at each terminator. Override it; the default throws. */
  foundTerminator(): void {
    throw new InvalidStateError(
      'Cannot handle a terminator: override foundTerminator() in a subclass',
    );
  }

  /**
   * Queue `data` for sending (strings as UTF-8). It is handed to the transport at the end of the
   * current tick (pieces pushed in the same tick leave as one write), or sooner by
   * `handleWrite()` / `initiateSend()` / `close()`. After `close()` it does nothing.
   *
   * @throws {TypeError} If `data` is neither a Uint8Array nor a string (asynchat issue #12523).
   *
   * @example
   * ```ts
   * this.push('250 OK\r\n');
   * ```
   */
  push(data: Uint8Array | string): void {
    let bytes: Buffer;
    if (typeof data === 'string' && data.length <= 32) {
      if (data !== lastString) {
        lastBytes = Buffer.from(data, 'utf8');
        lastString = data;
      }
      bytes = lastBytes;
    } else {
      bytes = toBuffer(data, 'push');
    }
    if (this.closed || bytes.length === 0) return;
    const fifo = (this.#fifo ??= new Outgoing());
    fifo.push(bytes);
    fifo.bytes += bytes.length;
    if (!fifo.sendScheduled) {
      fifo.sendScheduled = true;
      this.map[kAfterRound](this);
    }
  }

  /**
   * Queue a producer: its `more()` pieces are sent in order until it returns an empty one.
   *
   * @throws {TypeError} If `producer` has no `more()` method.
   *
   * @example
   * ```ts
   * this.pushWithProducer(new SimpleProducer(fileContents, 4096));
   * ```
   */
  pushWithProducer(producer: Producer): void {
    if (
      typeof producer !== 'object' ||
      producer === null ||
      typeof (producer as Partial<Producer>).more !== 'function'
    ) {
      throw new InvalidArgumentError(
        `Expected \`producer\` to have a more() method, got \`${describeValue(producer)}\` (${typeof producer})`,
      );
    }
    if (this.closed) return;
    (this.#fifo ??= new Outgoing()).push(producer);
    // asynchat's push_with_producer() sends at once, so the producer's first more() runs now,
    // before any later command of the same read can change what it produces.
    this[kSendQueue](true);
  }

  /**
   * Close once everything queued so far has been sent: the peer receives all of it, then
   * end-of-stream. Closing goes through `handleClose()`.
   *
   * @example
   * ```ts
   * this.push('221 Bye\r\n');
   * this.closeWhenDone();
   * ```
   */
  closeWhenDone(): void {
    if (this.closed) return;
    (this.#fifo ??= new Outgoing()).push(null);
    this.wake();
  }

  /**
   * Emergencies only! Drop held-back input and every queued output (including a pending
   * `closeWhenDone()`).
   *
   * @example
   * ```ts
   * this.discardBuffers();
   * this.close();
   * ```
   */
  discardBuffers(): void {
    if (this.#in instanceof Incoming) this.#in.discard();
    const fifo = this.#fifo;
    if (fifo !== null) {
      fifo.clear();
      fifo.bytes = 0;
    }
  }

  /** How many items (byte chunks, producers, a close mark) wait in the output queue. */
  get outgoingQueueLength(): number {
    return this.#fifo === null ? 0 : this.#fifo.length;
  }

  /** True while output is queued, or not yet connected (asynchat). */
  override writable(): boolean {
    return hasOutput(this.#fifo) || !this.connected;
  }

  override handleWrite(): void {
    this.initiateSend();
  }

  override handleRead(): void {
    const data = this.recv(this.acInBufferSize);
    if (data.length === 0) return;
    let input = this.#in;
    if (!(input instanceof Incoming)) {
      const terminator = input;
      input = this.#in = new Incoming(this);
      input.setTerminator(terminator);
    }
    input.feed(data);
  }

  /**
   * `Dispatcher.send()` that keeps call order with `push()` / `pushWithProducer()`: what the
   * queue holds goes first; while it is not empty the transport takes nothing more (returns 0).
   *
   * @example
   * ```ts
   * this.push('HEADER\r\n');
   * this.send(body); // leaves after HEADER, or returns 0 while HEADER is still queued
   * ```
   */
  override send(data: Uint8Array | string): number {
    const bytes = toBuffer(data, 'send');
    const fifo = this.#fifo;
    if (fifo !== null && fifo.length > 0) {
      fifo.sendScheduled = false;
      this[kSendQueue](true);
      if (hasOutput(this.#fifo)) return 0;
    }
    return super.send(bytes);
  }

  /** Send from the queue until the transport is congested (asynchat `initiate_send`). */
  initiateSend(): void {
    this[kSendQueue](false);
  }

  // Sends from the queue until the transport is congested. The deferred send of push() stops at a
  // closeWhenDone() mark: the close itself is left to the loop (handlers run only in a loop).
  /** @internal */
  [kSendQueue](stopAtClose: boolean): void {
    const fifo = this.#fifo;
    while (fifo !== null && fifo.length > 0 && this.connected) {
      const first = fifo.first() as Buffer | Producer | null;
      if (first === null) {
        if (stopAtClose) return;
        // The close mark: what was queued behind it is never sent (asynchat closes here), so it
        // is dropped now, before close() would flush the queue. close() runs handleClose() first
        // unless it already ran (it may have queued this very closeWhenDone()).
        fifo.clear();
        fifo.bytes = 0;
        this.close();
        return;
      }
      if (isProducer(first)) {
        const more = toBuffer(first.more(), 'Producer.more');
        if (more.length > 0) {
          fifo.unshift(more);
          fifo.bytes += more.length;
        } else {
          fifo.shift();
        }
        continue;
      }
      const size = this.acOutBufferSize;
      let data: Buffer;
      if (first.length >= size) {
        data = first.length > size ? first.subarray(0, size) : first;
      } else {
        // Small pieces leave together: one send of up to what the transport takes now.
        const transport = this.socket;
        const room =
          transport === null ? size : transport.writableHighWaterMark - transport.writableLength;
        data = first.length < room ? gather(fifo, first, room < size ? room : size) : first;
      }
      const sent = super.send(data);
      if (sent === 0) return;
      consume(fifo, sent);
      if (sent < data.length) return;
    }
  }

  /** @internal */
  override [kQueued](): number {
    return this.#fifo === null ? 0 : this.#fifo.bytes;
  }

  /**
   * @internal The flush of close(): the queue in order, producers drained, up to a
   * closeWhenDone() mark (what follows it is dropped, as asynchat never sends it).
   */
  override [kTakeOutput](): Buffer | null {
    const fifo = this.#fifo;
    while (fifo !== null && fifo.length > 0) {
      const first = fifo.first() as Buffer | Producer | null;
      if (first === null) break;
      if (isProducer(first)) {
        const more = toBuffer(first.more(), 'Producer.more');
        if (more.length > 0) return more;
        fifo.shift();
        continue;
      }
      const data = gather(fifo, first, this.acOutBufferSize);
      consume(fifo, data.length);
      return data;
    }
    this.discardBuffers();
    return null;
  }

  /** @internal Bytes held back waiting for the rest of a terminator are delivered at EOF. */
  override [kAtEof](): void {
    if (this.#in instanceof Incoming) this.#in.atEof();
  }
}

// Outgoing queue: bytes, producers, and null for closeWhenDone(), with what goes with them (an idle
// chat holds none of it). A ring buffer: a congested transport can leave a million small pushes
// queued, and Array.shift() would make sending them quadratic.
class Outgoing extends Fifo<Buffer | Producer | null> {
  // Bytes of the Buffers queued (producers count once they have produced).
  bytes = 0;
  // push() sends at the end of the current tick (or sooner, from handleWrite()), so that several
  // push()es of one tick (a line, then its "\n") leave as one write: small separate writes cost a
  // syscall each, and Nagle's algorithm would hold the second one until the peer's delayed ACK.
  sendScheduled = false;
}

// Drops the first `sent` bytes from the byte chunks at the head of the queue.
function consume(fifo: Outgoing, sent: number): void {
  fifo.bytes -= sent;
  let left = sent;
  while (left > 0) {
    const first = fifo.first() as Buffer;
    if (first.length <= left) {
      fifo.shift();
      left -= first.length;
    } else {
      fifo.setFirst(first.subarray(left));
      left = 0;
    }
  }
}

// The byte chunks at the head of the queue joined into one Buffer of at most `limit` bytes
// (whole chunks; `first` alone, uncopied, when the next one does not fit).
function gather(fifo: Fifo<Buffer | Producer | null>, first: Buffer, limit: number): Buffer {
  const queued = fifo.length;
  let total = first.length;
  let count = 1;
  while (count < queued) {
    const next = fifo.at(count);
    if (next === null || next === undefined || isProducer(next)) break;
    if (total + next.length > limit) break;
    total += next.length;
    count++;
  }
  if (count === 1) return first;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const piece = fifo.at(i) as Buffer;
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

// Whether output is queued.
function hasOutput(fifo: Fifo<Buffer | Producer | null> | null): boolean {
  return fifo !== null && fifo.length > 0;
}

// asynchat's class attributes, on the prototype: an instance holds its own only once assigned
// (or given another `maxIncoming`), DESIGN's bytes per idle connection.
AsyncChat.prototype.acInBufferSize = 65536;
AsyncChat.prototype.acOutBufferSize = 65536;
(AsyncChat.prototype as { maxIncoming: number }).maxIncoming = DEFAULT_MAX_INCOMING;
