// A double-ended FIFO for the legacy output queues (internal).
import { legacyStats } from './_stats.js';

/**
 * A growable ring buffer with O(1) `push`, `shift`, `unshift` and `first` access.
 *
 * `Array.prototype.shift()` copies the whole array once it holds more than a few thousand items,
 * which made a congested AsyncChat quadratic in its queue length. Slots outside the live range
 * are always `undefined`, so dequeued items are not kept alive.
 *
 * @internal
 * @example
 * ```ts
 * const fifo = new Fifo<string>();
 * fifo.push('b');
 * fifo.unshift('a');
 * fifo.shift(); // 'a'
 * ```
 */
// Capacity on the first push: an empty Fifo holds no array of its own (most queues of an idle
// connection stay empty).
const INITIAL_CAPACITY = 8;
const NONE: readonly undefined[] = [];

export class Fifo<T> {
  // Never written while it is NONE: push() and unshift() grow first when length === capacity.
  #items = NONE as Array<T | undefined>;
  #mask = 0;
  #head = 0;
  #length = 0;

  /** How many items are queued. */
  get length(): number {
    return this.#length;
  }

  /** The item at the head; `undefined` when empty (check `length` first). */
  first(): T | undefined {
    return this.#items[this.#head];
  }

  /** The item `index` places behind the head (`index < length`). */
  at(index: number): T | undefined {
    return this.#items[(this.#head + index) & this.#mask];
  }

  /** Replaces the item at the head (the queue must not be empty). */
  setFirst(item: T): void {
    this.#items[this.#head] = item;
  }

  /** Appends `item` at the tail. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  /** Inserts `item` at the head. */
  unshift(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & this.#mask;
    this.#items[this.#head] = item;
    this.#length++;
  }

  /** Removes and returns the item at the head; `undefined` when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const head = this.#head;
    const item = this.#items[head];
    this.#items[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  /** Removes every item and lets go of its storage. */
  clear(): void {
    this.#items = NONE as Array<T | undefined>;
    this.#mask = 0;
    this.#head = 0;
    this.#length = 0;
  }

  #grow(): void {
    const old = this.#items;
    const length = this.#length;
    const items = new Array<T | undefined>(Math.max(INITIAL_CAPACITY, old.length * 2)).fill(
      undefined,
    );
    for (let i = 0; i < length; i++) items[i] = old[(this.#head + i) & this.#mask];
    legacyStats.queueMoves += length;
    this.#items = items;
    this.#mask = items.length - 1;
    this.#head = 0;
  }
}
