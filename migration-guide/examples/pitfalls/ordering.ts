/**
 * Pitfall: assuming the two worlds run interleaved the same way.
 *
 * - Legacy handlers run only inside `loop()`: data can sit in a socket's buffer and nothing
 *   happens until a loop runs a round. A round calls every ready dispatcher's handlers one after
 *   the other, synchronously; promise callbacks (microtasks) queued by a handler run after the
 *   whole round, before the next one.
 * - Modern code runs whenever Node delivers an event: each `await` resumes in a microtask, with
 *   no loop of ours in between.
 *
 * @module
 */
import { Dispatcher, type DispatcherOptions } from 'dispatch-bridge/legacy';

/**
 * Writes what happens to a shared log: its handler call, then a microtask it queued.
 *
 * @example
 * ```ts
 * const log: string[] = [];
 * new Recorder({ socket: a, map }, 'A', log);
 * new Recorder({ socket: b, map }, 'B', log);
 * await loop({ map, count: 1, timeout: 0 }); // A: handleRead, B: handleRead, A: microtask, …
 * ```
 */
export class Recorder extends Dispatcher {
  constructor(
    options: DispatcherOptions,
    readonly name: string,
    readonly log: string[],
  ) {
    super(options);
  }

  override writable(): boolean {
    return false;
  }

  override handleRead(): void {
    const data = this.recv(4096);
    if (data.length === 0) return;
    this.log.push(`${this.name}: handleRead`);
    queueMicrotask(() => this.log.push(`${this.name}: microtask`));
  }
}
