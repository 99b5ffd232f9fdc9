/**
 * A FIFO queue with O(1) `push` and `shift`, stored as a chain of ring segments.
 *
 * Why not one array: `Array.prototype.shift` is O(n) once an array leaves V8's fast path (past
 * about 16K items), and one ring that doubles by copying into a fresh large array pays for every
 * doubling with a copy and with new pages of the large-object space (a 1 000 000-event burst
 * spent most of its time there). Segments start at the initial capacity and double up to
 * {@link MAX_SEGMENT} slots; a full segment is never copied, the next item goes to a new one, and
 * drained segments are dropped, so memory follows the queue's length both ways (as Node's
 * internal FixedQueue does for `events.on`).
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

  /** How many slots the live segments hold (items stored plus room before the next segment). */
  get capacity(): number {
    let total = 0;
    for (let segment: Segment<T> | null = this.#head; segment !== null; segment = segment.next) {
      total += segment.items.length;
    }
    return total;
  }

  /** Appends `item` at the tail. */
  push(item: T): void {
    let tail = this.#tail;
    if (tail.end === tail.items.length) {
      const next = new Segment<T>(Math.min(tail.items.length * 2, MAX_SEGMENT));
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
    if (head.start === head.end) this.#head = head = head.next!;
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
