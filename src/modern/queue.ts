/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   Cancelled waits reject with `signal.reason` unchanged and stored errors are rethrown as given,
   whatever their type (DESIGN: "rejects with the signal's reason"). */
import { checkSignal } from './_validate.js';
import { InvalidArgumentError, InvalidStateError, OutOfRangeError } from './errors.js';

/**
 * `maxSize` as asyncio takes it: any number >= 0, fractions included (`Queue(1.3)` is full at 2
 * items, as asyncio's `qsize() >= maxsize`); 0 and `Infinity` mean unbounded. Unlike asyncio
 * (where `maxsize <= 0` is unbounded), a negative or NaN size is a RangeError: it is a bug.
 */
function checkMaxSize(value: unknown): number {
  const what = 'a non-negative number';
  const shown = `\`${String(value)}\` (${value === null ? 'null' : typeof value})`;
  if (typeof value !== 'number')
    throw new InvalidArgumentError(`Expected \`maxSize\` to be ${what}, got ${shown}`);
  if (Number.isNaN(value) || value < 0) {
    throw new OutOfRangeError(`Expected \`maxSize\` to be ${what}, got ${shown}`);
  }
  return value;
}

/**
 * Thrown by {@link Queue.putNowait} when the queue is full (asyncio's `QueueFull`).
 *
 * @example
 * ```ts
 * try { queue.putNowait(job); } catch (error) { if (error instanceof QueueFull) reject(job); }
 * ```
 */
export class QueueFull extends Error {
  constructor(message = 'Cannot put: the queue is full') {
    super(message);
    this.name = 'QueueFull';
  }
}

/**
 * Thrown by {@link Queue.getNowait} when the queue is empty (asyncio's `QueueEmpty`).
 *
 * @example
 * ```ts
 * try { queue.getNowait(); } catch (error) { if (error instanceof QueueEmpty) idle(); }
 * ```
 */
export class QueueEmpty extends Error {
  constructor(message = 'Cannot get: the queue is empty') {
    super(message);
    this.name = 'QueueEmpty';
  }
}

/** Options of the waiting queue methods. */
export interface QueueWaitOptions {
  /** Cancels the wait: rejects with `signal.reason`; nothing is added or removed. */
  signal?: AbortSignal | undefined;
}

interface Waiter {
  wake(): void;
}

// A FIFO of waiters with O(1) removal of any entry (cancelled waits leave no trace).
class WaiterList {
  #set = new Set<Waiter>();
  get size(): number {
    return this.#set.size;
  }
  add(waiter: Waiter): void {
    this.#set.add(waiter);
  }
  delete(waiter: Waiter): void {
    this.#set.delete(waiter);
  }
  wakeFirst(): void {
    for (const waiter of this.#set) {
      this.#set.delete(waiter);
      waiter.wake();
      return;
    }
  }
  wakeAll(): void {
    const all = [...this.#set];
    this.#set.clear();
    for (const waiter of all) waiter.wake();
  }
}

/**
 * A FIFO queue for producers and consumers (asyncio's `Queue`).
 *
 * `maxSize` bounds it (0, the default, and `Infinity` mean unbounded): {@link put} waits while
 * it is full, {@link get} waits while it is empty; both are cancellable. {@link join} waits until
 * every item put has been marked done with {@link taskDone}. As in asyncio, `maxSize` may be a
 * fraction: the queue is full once it holds `maxSize` items or more (`new Queue(1.3)` takes 2).
 * A negative or NaN `maxSize` throws a `RangeError` (asyncio treats a negative one as unbounded).
 *
 * @example
 * ```ts
 * const queue = new Queue<string>(100);
 * await queue.put('job');
 * const job = await queue.get({ signal });
 * queue.taskDone();
 * await queue.join();
 * ```
 */
export class Queue<T> {
  /** The bound given to the constructor, as given (0 or `Infinity`: unbounded). */
  readonly maxSize: number;
  #items: T[] = [];
  #head = 0;
  #unfinished = 0;
  #getters = new WaiterList();
  #putters = new WaiterList();
  #joiners: (() => void)[] = [];

  /**
   * @param maxSize The bound (default 0: unbounded); any number >= 0, as in asyncio.
   * @throws {TypeError} If `maxSize` is not a number.
   * @throws {RangeError} If `maxSize` is negative or NaN.
   */
  constructor(maxSize = 0) {
    this.maxSize = checkMaxSize(maxSize);
  }

  /** How many items are in the queue. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** True when the queue holds no item. */
  empty(): boolean {
    return this.size === 0;
  }

  /** True when the queue is bounded and holds `maxSize` items or more. */
  full(): boolean {
    return this.maxSize > 0 && this.size >= this.maxSize;
  }

  /** Adds `item`, waiting while the queue is full. */
  async put(item: T, options?: QueueWaitOptions): Promise<void> {
    const signal = checkSignal(options?.signal);
    if (signal?.aborted) throw signal.reason;
    while (this.full()) await this.#wait(this.#putters, signal);
    this.putNowait(item);
  }

  /**
   * Adds `item` without waiting.
   *
   * @throws {QueueFull} If the queue is full.
   */
  putNowait(item: T): void {
    if (this.full()) throw new QueueFull();
    this.#items.push(item);
    this.#unfinished++;
    this.#getters.wakeFirst();
  }

  /** Removes and returns the first item, waiting while the queue is empty. */
  async get(options?: QueueWaitOptions): Promise<T> {
    const signal = checkSignal(options?.signal);
    if (signal?.aborted) throw signal.reason;
    while (this.empty()) await this.#wait(this.#getters, signal);
    return this.getNowait();
  }

  /**
   * Removes and returns the first item without waiting.
   *
   * @throws {QueueEmpty} If the queue is empty.
   */
  getNowait(): T {
    if (this.empty()) throw new QueueEmpty();
    const item = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as T; // release the reference
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.#putters.wakeFirst();
    return item;
  }

  /**
   * Marks one item taken with {@link get} as processed; {@link join} resolves when every item put
   * is done.
   *
   * @throws {Error} If called more times than items were put.
   */
  taskDone(): void {
    if (this.#unfinished <= 0)
      throw new InvalidStateError('Cannot mark a task done: no task is unfinished');
    this.#unfinished--;
    if (this.#unfinished === 0) {
      const joiners = this.#joiners;
      this.#joiners = [];
      for (const resolve of joiners) resolve();
    }
  }

  /** Resolves once every item put has been marked done with {@link taskDone}. */
  join(options?: QueueWaitOptions): Promise<void> {
    const signal = checkSignal(options?.signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#unfinished === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const index = this.#joiners.indexOf(done);
        if (index !== -1) this.#joiners.splice(index, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#joiners.push(done);
    });
  }

  #wait(list: WaiterList, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        list.delete(waiter);
        // Pass the turn on: a wake-up this waiter consumed must not be lost.
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        wake() {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      list.add(waiter);
    });
  }
}
