/**
 * A growable FIFO ring buffer with O(1) `push` and `shift`.
 *
 * `Array.prototype.shift` is O(n) once an array leaves V8's fast path (past about 16K items), so
 * a queue that may hold many items keeps them here. The capacity is a power of two and doubles
 * when full; it never shrinks except through `clear()`.
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
  /** Slots; those outside [head, head + length) are always `undefined` so they hold nothing alive. */
  #items: Array<T | undefined>;
  #mask: number;
  #head = 0;
  #length = 0;

  constructor(initialCapacity = 16) {
    let capacity = 4;
    while (capacity < initialCapacity) capacity *= 2;
    this.#initialCapacity = capacity;
    this.#items = new Array<T | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
  }

  /** How many items are stored. */
  get length(): number {
    return this.#length;
  }

  /** How many items fit before the next growth. */
  get capacity(): number {
    return this.#items.length;
  }

  /** Appends `item` at the tail. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  /** Removes and returns the item at the head; `undefined` when empty (check `length` first). */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const head = this.#head;
    const item = this.#items[head];
    this.#items[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  /** Returns the item at the head without removing it; `undefined` when empty. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** Removes every item and releases the storage back to the initial capacity. */
  clear(): void {
    this.#items = new Array<T | undefined>(this.#initialCapacity).fill(undefined);
    this.#mask = this.#initialCapacity - 1;
    this.#head = 0;
    this.#length = 0;
  }

  #grow(): void {
    const old = this.#items;
    const capacity = old.length * 2;
    const items = new Array<T | undefined>(capacity).fill(undefined);
    for (let i = 0; i < this.#length; i++) items[i] = old[(this.#head + i) & this.#mask];
    this.#items = items;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}
