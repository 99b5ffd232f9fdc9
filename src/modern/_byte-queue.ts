// The byte buffer behind StreamReader: a FIFO of bytes that costs memory in proportion to its
// bytes however they were cut into chunks, and separator searches that resume where they stopped.
// Internal: not exported from any barrel.
import { readerStats } from './_stats.js';

/** Chunks shorter than this are copied into an owned tail buffer rather than kept by reference. */
export const COALESCE_BELOW = 512;
/** Capacity bounds of an owned tail buffer. */
export const MIN_TAIL = 256;
export const MAX_TAIL = 16384;

/**
 * Work counters for tests (not public API): `segmentsVisited` counts the segments a search stepped
 * over or into, next to `readerStats.bytesScanned` (the bytes it compared).
 */
export const byteQueueStats = { segmentsVisited: 0 };

const EMPTY = Buffer.alloc(0);
// The segment list of a queue that never held a byte (shared, never written): an idle connection's
// reader allocates no array.
const NO_SEGMENTS: Buffer[] = [];
// Searches over at most this many new bytes of the tail run in JavaScript, in place.
const IN_PLACE = 64;
// Compact the segment list once this many consumed slots sit at its front.
const COMPACT_AT = 1024;

/**
 * A FIFO of bytes.
 *
 * Layout: the bytes are `#segments[#head..#end)` minus the first `#offset` bytes of the head
 * segment; `#length` is their total. No segment is empty. A chunk pushed while the queue is empty,
 * or of COALESCE_BELOW bytes or more, is kept by reference (no copy: the common case of a whole
 * message in one chunk costs nothing). Smaller chunks are copied into an owned tail buffer
 * (`#tail`; MIN_TAIL bytes after a large chunk, each next one twice as large up to MAX_TAIL, so
 * copies are O(1) per byte): its filled part `[0, #tailEnd)` is the last segment, as a view
 * refreshed (`#sync()`) before the segments are read; a search over a few new bytes of the tail
 * scans it in place. Bytes before `#tailEnd` are never written again, so views handed out by
 * take() stay valid; the tail is dropped when the queue empties.
 *
 * Memory is therefore about the bytes buffered: the tails' unused room is at most the bytes in
 * them plus one MIN_TAIL per large chunk, and the chunks kept by reference are the first one and
 * those of COALESCE_BELOW bytes or more (object overhead of ~200 bytes on each at most 40%).
 */
export class ByteQueue {
  #segments: Buffer[] = NO_SEGMENTS;
  #head = 0;
  // The used slots are #segments[#head..#end); slots before #head hold EMPTY.
  #end = 0;
  #offset = 0;
  #length = 0;
  // The owned tail buffer, or null when the last segment is a chunk kept by reference.
  #tail: Buffer | null = null;
  #tailEnd = 0;
  // True when the last segment's view does not cover [0, #tailEnd) yet.
  #stale = false;

  /** The number of bytes buffered. */
  get length(): number {
    return this.#length;
  }

  /** The number of bytes in the first segment (0 when the queue is empty). */
  get headLength(): number {
    if (this.#length === 0) return 0;
    this.#sync();
    return this.#segments[this.#head]!.length - this.#offset;
  }

  /** The number of segments buffered (for tests: memory follows bytes, not chunks). */
  get segmentCount(): number {
    return this.#end - this.#head;
  }

  /** Appends `chunk` (non-empty); the caller must not modify it afterwards. */
  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n < COALESCE_BELOW && this.#length > 0) {
      const tail = this.#tail;
      if (tail !== null) {
        if (tail.length - this.#tailEnd >= n) {
          chunk.copy(tail, this.#tailEnd);
          this.#tailEnd += n;
          this.#length += n;
          this.#stale = true;
          return;
        }
        // The tail is full: a new one, twice as large (up to MAX_TAIL), after it.
        this.#sync();
        this.#startTail(chunk, tail.length * 2);
        return;
      }
      const segments = this.#segments;
      const last = this.#end - 1;
      const previous = segments[last]!;
      // The live part of the last chunk (it may be the head, partly consumed).
      const start = last === this.#head ? this.#offset : 0;
      const kept = previous.length - start;
      if (kept < COALESCE_BELOW) {
        // Two small chunks in a row: copy both into a new tail that replaces the last one.
        const fresh = this.#newTail(kept + n, MIN_TAIL);
        previous.copy(fresh, 0, start);
        chunk.copy(fresh, kept);
        if (last === this.#head) this.#offset = 0;
        this.#tailEnd = kept + n;
        segments[last] = fresh.subarray(0, this.#tailEnd);
        this.#length += n;
        return;
      }
      // A small chunk after a large one: it starts a new tail.
      this.#startTail(chunk, MIN_TAIL);
      return;
    }
    this.#sync();
    this.#tail = null;
    this.#append(chunk);
    this.#length += n;
  }

  /**
   * The index (from the start of the queue) of the first `separator` at or after `from`, or -1.
   * A search that found nothing can resume at `length - separator.length + 1` once more bytes
   * arrived: it then examines only the new bytes and the separator's length before them.
   */
  indexOf(separator: Buffer, from: number): number {
    const sepLength = separator.length;
    if (this.#length - from < sepLength) return -1;
    // A search resumed after small chunks, within the tail's unseen bytes: scanned in place, so
    // that a trickle of bytes costs no view refresh per byte.
    if (this.#stale && this.#length - from <= IN_PLACE) {
      const tailStart = this.#length - this.#tailEnd;
      if (from >= tailStart) return this.#scanTail(separator, from - tailStart, tailStart);
    }
    this.#sync();
    const segments = this.#segments;
    // The segment holding `from`: from the front when `from` lies in the first half of the bytes,
    // from the back otherwise (resumed searches start near the end).
    let i: number;
    let base: number;
    if (from < this.#length >> 1) {
      i = this.#head;
      base = -this.#offset;
      for (;;) {
        byteQueueStats.segmentsVisited++;
        const next = base + segments[i]!.length;
        if (next > from) break;
        base = next;
        i++;
      }
    } else {
      i = this.#end - 1;
      base = this.#length - segments[i]!.length;
      if (i === this.#head) base = -this.#offset;
      byteQueueStats.segmentsVisited++;
      while (base > from) {
        i--;
        base -= segments[i]!.length;
        byteQueueStats.segmentsVisited++;
      }
    }
    let start = from - base;
    const first = separator[0]!;
    for (;;) {
      const segment = segments[i]!;
      if (sepLength === 1) {
        const found = segment.indexOf(first, start);
        readerStats.bytesScanned += (found === -1 ? segment.length : found + 1) - start;
        if (found !== -1) return base + found;
      } else {
        const found = segment.indexOf(separator, start);
        readerStats.bytesScanned += (found === -1 ? segment.length : found + sepLength) - start;
        if (found !== -1) return base + found;
        // A separator that starts in this segment and ends in a later one.
        const tail = segment.length - sepLength + 1;
        for (let p = start > tail ? start : tail; p < segment.length; p++) {
          if (segment[p] === first && this.#matchesAt(separator, i, p)) return base + p;
          readerStats.bytesScanned++;
        }
      }
      i++;
      if (i >= this.#end) return -1;
      byteQueueStats.segmentsVisited++;
      base += segment.length;
      start = 0;
    }
  }

  /**
   * The index of the first `byte` in the first segment, or -1 (also when the queue is empty): the
   * cheap first look of a fresh search, as most messages arrive whole in one chunk.
   */
  indexOfInHead(byte: number): number {
    if (this.#length === 0) return -1;
    this.#sync();
    const head = this.#segments[this.#head]!;
    const found = head.indexOf(byte, this.#offset);
    readerStats.bytesScanned += (found === -1 ? head.length : found + 1) - this.#offset;
    byteQueueStats.segmentsVisited++;
    return found === -1 ? -1 : found - this.#offset;
  }

  /** Removes and returns the first `n` bytes (n <= length): a view when they sit in one segment. */
  take(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.#sync();
    const first = this.#segments[this.#head]!;
    const available = first.length - this.#offset;
    let out: Buffer;
    if (n < available) {
      out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
    } else if (n === available) {
      out = this.#offset === 0 ? first : first.subarray(this.#offset);
      this.#dropHead();
    } else {
      out = Buffer.allocUnsafe(n);
      let copied = 0;
      while (copied < n) {
        // Not cached outside the loop: #dropHead() may compact the list.
        const segment = this.#segments[this.#head]!;
        const left = segment.length - this.#offset;
        const wanted = n - copied;
        if (wanted < left) {
          segment.copy(out, copied, this.#offset, this.#offset + wanted);
          this.#offset += wanted;
          copied = n;
        } else {
          segment.copy(out, copied, this.#offset);
          copied += left;
          this.#dropHead();
        }
      }
    }
    this.#length -= n;
    return out;
  }

  /** Removes and returns the rest of the first segment (length > 0), without copying. */
  takeChunk(): Buffer {
    this.#sync();
    return this.take(this.#segments[this.#head]!.length - this.#offset);
  }

  // Copies `chunk` into a new tail buffer, as a new last segment.
  #startTail(chunk: Buffer, capacity: number): void {
    const n = chunk.length;
    const fresh = this.#newTail(n, capacity);
    chunk.copy(fresh, 0);
    this.#tailEnd = n;
    this.#append(fresh.subarray(0, n));
    this.#length += n;
  }

  // A tail buffer for at least `needed` bytes, of about `capacity` bytes (within the bounds): tails
  // grow geometrically along a run of small chunks, so copies stay O(1) per byte and the unused
  // room stays below the bytes held.
  #newTail(needed: number, capacity: number): Buffer {
    let size = capacity > MAX_TAIL ? MAX_TAIL : capacity;
    if (size < needed) size = needed;
    // Zero-filled: views handed out expose their whole ArrayBuffer through `.buffer`.
    const fresh = Buffer.alloc(size);
    this.#tail = fresh;
    return fresh;
  }

  // Appends a segment (the first one allocates the list).
  #append(segment: Buffer): void {
    if (this.#segments === NO_SEGMENTS) this.#segments = [];
    this.#segments[this.#end++] = segment;
  }

  #sync(): void {
    if (this.#stale) {
      this.#stale = false;
      this.#segments[this.#end - 1] = this.#tail!.subarray(0, this.#tailEnd);
    }
  }

  // indexOf() within the filled part of the tail, from `start` (relative to the tail buffer);
  // `base` is the tail's offset in the queue.
  #scanTail(separator: Buffer, start: number, base: number): number {
    const tail = this.#tail!;
    const last = this.#tailEnd - separator.length;
    const first = separator[0]!;
    for (let p = start; p <= last; p++) {
      readerStats.bytesScanned++;
      if (tail[p] !== first) continue;
      let k = 1;
      while (k < separator.length && tail[p + k] === separator[k]) k++;
      readerStats.bytesScanned += k - 1;
      if (k === separator.length) return base + p;
    }
    return -1;
  }

  #matchesAt(separator: Buffer, index: number, position: number): boolean {
    const segments = this.#segments;
    let i = index;
    let segment = segments[i]!;
    let p = position;
    for (let k = 0; k < separator.length; k++, p++) {
      while (p >= segment.length) {
        i++;
        if (i >= this.#end) return false;
        segment = segments[i]!;
        p = 0;
      }
      readerStats.bytesScanned++;
      if (segment[p] !== separator[k]) return false;
    }
    return true;
  }

  #dropHead(): void {
    const segments = this.#segments;
    segments[this.#head] = EMPTY;
    this.#head++;
    this.#offset = 0;
    if (this.#head === this.#end) {
      // Every slot up to #end holds EMPTY now: reuse the array from its start.
      this.#head = 0;
      this.#end = 0;
      // Nothing is buffered: free the tail (views already handed out keep their own bytes).
      this.#tail = null;
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#end) {
      this.#segments = segments.slice(this.#head, this.#end);
      this.#end -= this.#head;
      this.#head = 0;
    }
  }
}
