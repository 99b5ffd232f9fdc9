// The input side of AsyncChat (internal): asynchat's handle_read loop over the received bytes,
// the terminator, the bytes held back for a terminator split across reads, the current message
// (coalesced, see _collection.ts) and the maxIncoming bound with its overrun rule.
import { LimitOverrunError } from '../errors.js';
import { EMPTY } from './_bytes.js';
import { Collection } from './_collection.js';
import { kFail } from './_handlers.js';
import { legacyStats } from './_stats.js';
import { findPrefixAtEnd } from './_terminator.js';

/**
 * What the framing calls: the chat's overridable methods, its closed state and bound, and the
 * dispatch path's error report (`handleError()`, the `'error'` event).
 */
export interface IncomingSink {
  collectIncomingData(data: Buffer): void;
  foundTerminator(): void;
  readonly closed: boolean;
  readonly maxIncoming: number;
  [kFail](error: unknown): void;
}

/** The framing of one AsyncChat's input. */
export class Incoming {
  /** The current terminator (already checked and copied by `AsyncChat.setTerminator()`). */
  terminator: Buffer | number | null = null;
  readonly #sink: IncomingSink;
  // Received bytes not yet scanned for the terminator: only ever a held-back partial terminator
  // between reads, so prepending it to the next chunk is cheap.
  #inBuffer: Buffer = EMPTY;
  // Bytes of the current message while the terminator is a byte string (against maxIncoming).
  #collected = 0;
  // Bytes of the current message scanned but not yet given to collectIncomingData() (created on
  // first use: an idle connection does not pay for it).
  #current: Collection | null = null;
  // The current message was over maxIncoming: its bytes are dropped up to its terminator.
  #discarding = false;
  // The framing changed while #message held bytes: they go out before anything else.
  #stale = false;

  constructor(sink: IncomingSink) {
    this.#sink = sink;
  }

  get #message(): Collection {
    return (this.#current ??= new Collection());
  }

  /** A new terminator: a new message starts (bytes collected so far still go out first). */
  setTerminator(terminator: Buffer | number | null): void {
    this.terminator = terminator;
    this.#collected = 0;
    this.#discarding = false;
    if (this.#current !== null && this.#current.length > 0) this.#stale = true;
  }

  /** Frames a received chunk (never empty). */
  feed(data: Buffer): void {
    this.#inBuffer = this.#inBuffer.length > 0 ? Buffer.concat([this.#inBuffer, data]) : data;
    if (this.#stale) {
      this.#stale = false;
      this.#deliver(this.#message.take());
    }
    this.#process();
  }

  /** End-of-stream: what is held (but an over-long message's tail) goes to the sink. */
  atEof(): void {
    const rest = this.#inBuffer;
    this.#inBuffer = EMPTY;
    this.#stale = false;
    if (this.#discarding) return;
    if (this.#current !== null) this.#deliver(this.#current.take());
    if (rest.length > 0) this.#sink.collectIncomingData(rest);
  }

  /** Drops everything held (`discardBuffers()`). */
  discard(): void {
    this.#inBuffer = EMPTY;
    this.#collected = 0;
    this.#current?.clear();
    this.#discarding = false;
    this.#stale = false;
  }

  // asynchat's handle_read loop, over this.#inBuffer so that discardBuffers() (or a close) from a
  // callback stops it.
  #process(): void {
    const sink = this.#sink;
    while (this.#inBuffer.length > 0 && !sink.closed) {
      const buffer = this.#inBuffer;
      const length = buffer.length;
      const terminator = this.terminator;
      if (
        terminator === null ||
        terminator === 0 ||
        (Buffer.isBuffer(terminator) && terminator.length === 0)
      ) {
        this.#inBuffer = EMPTY;
        sink.collectIncomingData(buffer);
      } else if (typeof terminator === 'number') {
        if (length < terminator) {
          this.#inBuffer = EMPTY;
          this.terminator = terminator - length;
          this.#message.append(buffer);
          this.#deliver(this.#message.takeSealed());
        } else {
          this.#inBuffer = length === terminator ? EMPTY : buffer.subarray(terminator);
          this.terminator = 0;
          this.#finish(buffer.subarray(0, terminator));
        }
      } else if (!this.#scan(buffer, terminator)) {
        return;
      }
    }
  }

  // One step over `buffer` with a byte-string terminator; false when the rest must wait for more
  // input.
  #scan(buffer: Buffer, terminator: Buffer): boolean {
    const length = buffer.length;
    const termLength = terminator.length;
    const index = termLength === 1 ? buffer.indexOf(terminator[0]!) : buffer.indexOf(terminator);
    legacyStats.bytesScanned += index === -1 ? length : index + termLength;
    if (index !== -1) {
      const next = index + termLength;
      this.#inBuffer = next === length ? EMPTY : buffer.subarray(next);
      const total = this.#collected + index;
      this.#collected = 0;
      if (this.#discarding) {
        // The end of the over-long message: the next one starts here.
        this.#discarding = false;
      } else if (total > this.#sink.maxIncoming) {
        this.#report(total);
      } else {
        this.#finish(buffer.subarray(0, index));
      }
      return true;
    }
    const held = findPrefixAtEnd(buffer, terminator);
    // Copy the few held-back bytes so the whole received chunk can be freed.
    this.#inBuffer = held > 0 ? Buffer.from(buffer.subarray(length - held)) : EMPTY;
    const count = length - held;
    if (count === 0 || this.#discarding) return false;
    const total = this.#collected + count;
    if (total > this.#sink.maxIncoming) {
      this.#discarding = true;
      this.#collected = 0;
      this.#report(total);
      return false;
    }
    this.#collected = total;
    this.#message.append(held > 0 ? buffer.subarray(0, count) : buffer);
    // Unbounded messages are handed over as they fill; bounded ones wait for their terminator.
    if (this.#sink.maxIncoming === Infinity) this.#deliver(this.#message.takeSealed());
    return false;
  }

  // The terminator ended the current message, whose last bytes are `last`.
  #finish(last: Buffer): void {
    const message = this.#current;
    if (message === null || message.length === 0) {
      // A message within one read: handed over as it is, uncopied. Don't bother reporting the
      // empty string (source of subtle bugs).
      if (last.length > 0) this.#sink.collectIncomingData(last);
    } else {
      // Its last bytes join the rest (so a small view does not pin the whole received chunk).
      message.append(last);
      this.#deliver(message.take());
    }
    this.#sink.foundTerminator();
  }

  #deliver(pieces: Buffer[]): void {
    for (const piece of pieces) this.#sink.collectIncomingData(piece);
  }

  // The current message is longer than maxIncoming: dropped, and reported once. The messages
  // after it are read on unless the report closed the chat.
  #report(total: number): void {
    this.#current?.clear();
    this.#sink[kFail](
      new LimitOverrunError(
        `Cannot collect incoming data: ${total} bytes without a terminator exceed maxIncoming (${this.#sink.maxIncoming})`,
        total,
      ),
    );
  }
}
