/**
 * Pitfall: ignoring what `send()` returns.
 *
 * `send()` behaves like a non-blocking socket: it takes what fits in the transport's buffer and
 * returns how many bytes that was, possibly fewer than given (0 when congested). Code that
 * assumes "sent" loses the rest silently. The fix: keep the rest and send it from the next
 * `handleWrite()` (or use `DispatcherWithSend` / `AsyncChat.push()`, which do this for you).
 * The modern `writer.write()` never drops bytes; its pitfall is forgetting `await drain()`.
 *
 * @module
 */
import { Dispatcher, type DispatcherOptions } from 'dispatch-bridge/legacy';

/**
 * THE PITFALL: sends `data` once, ignores the count, closes. Only a prefix arrives.
 *
 * @example
 * ```ts
 * new CarelessUpload({ socket, map }, Buffer.alloc(1 << 20)); // the peer gets 16 KiB of 1 MiB
 * ```
 */
export class CarelessUpload extends Dispatcher {
  #done = false;

  constructor(
    options: DispatcherOptions,
    readonly data: Buffer,
  ) {
    super(options);
  }

  override writable(): boolean {
    return !this.#done;
  }

  override handleWrite(): void {
    this.send(this.data); // BUG: returns how much was taken, which may be far less
    this.#done = true;
    this.close();
  }

  override handleRead(): void {
    this.recv(4096);
  }
}

/**
 * THE FIX: what `send()` did not take is sent by the next `handleWrite()`.
 *
 * @example
 * ```ts
 * new CarefulUpload({ socket, map }, Buffer.alloc(1 << 20)); // the peer gets all of it
 * ```
 */
export class CarefulUpload extends Dispatcher {
  #rest: Buffer;

  constructor(options: DispatcherOptions, data: Buffer) {
    super(options);
    this.#rest = data;
  }

  override writable(): boolean {
    return this.#rest.length > 0;
  }

  override handleWrite(): void {
    const sent = this.send(this.#rest);
    this.#rest = this.#rest.subarray(sent);
    if (this.#rest.length === 0) this.close(); // close() still delivers what was sent
  }

  override handleRead(): void {
    this.recv(4096);
  }
}
