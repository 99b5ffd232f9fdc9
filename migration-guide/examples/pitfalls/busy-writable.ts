/**
 * Pitfall: a `writable()` that always returns true (asyncore's default!).
 *
 * The loop calls `handleWrite()` whenever `writable()` is true and the socket can take bytes,
 * which for an idle connection is every round: the loop never waits, and burns a CPU core doing
 * nothing. The fix: `writable()` says whether there is something to write.
 *
 * @module
 */
import { Dispatcher } from 'dispatch-bridge/legacy';

/** Sends the messages given to `notify()`; counts its `handleWrite()` calls. */
export class Notifier extends Dispatcher {
  protected queue: Buffer[] = [];
  handleWriteCalls = 0;

  notify(text: string): void {
    this.queue.push(Buffer.from(text));
    this.wake(); // a change from outside a handler: let the loop ask writable() again
  }

  override handleRead(): void {
    this.recv(4096); // input is ignored (recv() also notices end-of-stream)
  }

  override handleWrite(): void {
    this.handleWriteCalls++;
    const next = this.queue[0];
    if (next === undefined) return; // nothing to do... and yet we were called
    const sent = this.send(next);
    if (sent === next.length) this.queue.shift();
    else this.queue[0] = next.subarray(sent);
  }
}

/**
 * THE PITFALL: inherits `writable() { return true }`, so it is "ready" every round.
 *
 * @example
 * ```ts
 * const busy = new BusyNotifier({ socket, map });
 * await loop({ map, count: 100, timeout: 0 }); // busy.handleWriteCalls === 100
 * ```
 */
export class BusyNotifier extends Notifier {}

/**
 * THE FIX: ready to write only with something to write.
 *
 * @example
 * ```ts
 * const quiet = new QuietNotifier({ socket, map });
 * quiet.notify('hello\n'); // one handleWrite() call, then the loop rests
 * ```
 */
export class QuietNotifier extends Notifier {
  override writable(): boolean {
    return this.queue.length > 0;
  }
}
