/**
 * A FIFO queue with O(1) `push` and `shift`, stored as a chain of ring segments.
 *
 * Why not one array: `Array.prototype.shift` is O(n) once an array leaves V8's fast path (past
 * about 16K items), and one ring that doubles by copying into a fresh large array pays for every
 * doubling with a copy and with new pages of the large-object space (a 1 000 000-event burst
 * spent most of its time there). Segments start at the initial capacity and double up to
 * {@link MAX_SEGMENT} slots; a full segment is never copied, the next item goes to a new one, and
 * drained segments are dropped but one, kept for reuse, so memory follows the queue's length both
 * ways (as Node's internal FixedQueue does for `events.on`) without allocating in a steady state.
 *
 * @internal
 * @example
 * ```ts
 * const ring = new RingBuffer<number>();
 * ring.push(1);
 * ring.push(2);
 * ring.shift(); // 1
 * ring.length; // 1
 * ```
 */
export class RingBuffer<T> {
  readonly #initialCapacity: number;
  #head: Segment<T>;
  #tail: Segment<T>;
  // One drained segment kept for the next push that needs one: a queue that hovers around a
  // level reuses two segments instead of allocating new ones.
  #spare: Segment<T> | null = null;
  #length = 0;

  constructor(initialCapacity = 16) {
    let capacity = 4;
    while (capacity < initialCapacity && capacity < MAX_SEGMENT) capacity *= 2;
    this.#initialCapacity = capacity;
    this.#head = this.#tail = new Segment<T>(capacity);
  }

  /** How many items are stored. */
  get length(): number {
    return this.#length;
  }

  /** How many slots it holds: its segments (items plus room) and the spare one, if any. */
  get capacity(): number {
    let total = this.#spare === null ? 0 : this.#spare.items.length;
    for (let segment: Segment<T> | null = this.#head; segment !== null; segment = segment.next) {
      total += segment.items.length;
    }
    return total;
  }

  /** Appends `item` at the tail. */
  push(item: T): void {
    let tail = this.#tail;
    if (tail.end === tail.items.length) {
      const size = Math.min(tail.items.length * 2, MAX_SEGMENT);
      let next = this.#spare;
      if (next !== null && next.items.length === size) this.#spare = null;
      else next = new Segment<T>(size);
      tail.next = next;
      this.#tail = tail = next;
    }
    tail.items[tail.end++] = item;
    this.#length++;
  }

  /** Removes and returns the item at the head; `undefined` when empty (check `length` first). */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    let head = this.#head;
    // A drained segment with items behind it: move on (there is a next one, as length > 0).
    if (head.start === head.end) {
      const drained = head;
      this.#head = head = head.next!;
      drained.start = drained.end = 0;
      drained.next = null;
      this.#spare = drained;
    }
    const item = head.items[head.start];
    head.items[head.start++] = undefined;
    this.#length--;
    if (this.#length === 0) {
      // Empty: keep this one segment and start it over.
      head.start = head.end = 0;
      head.next = null;
      this.#tail = head;
    }
    return item;
  }

  /** Returns the item at the head without removing it; `undefined` when empty. */
  peek(): T | undefined {
    if (this.#length === 0) return undefined;
    const head = this.#head.start === this.#head.end ? this.#head.next! : this.#head;
    return head.items[head.start];
  }

  /** Removes every item and releases the storage back to the initial capacity. */
  clear(): void {
    this.#head = this.#tail = new Segment<T>(this.#initialCapacity);
    this.#spare = null;
    this.#length = 0;
  }
}

/** The largest segment, in slots (16 KiB of references). */
const MAX_SEGMENT = 2048;

/** Slots [start, end) hold items; the others are empty, so they keep nothing alive. */
class Segment<T> {
  readonly items: Array<T | undefined>;
  start = 0;
  end = 0;
  next: Segment<T> | null = null;
  constructor(capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }
}
