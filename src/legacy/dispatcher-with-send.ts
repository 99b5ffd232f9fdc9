import { toBuffer } from './_bytes.js';
import { Fifo } from './_fifo.js';
import { kQueued, kTakeOutput } from './_internal.js';
import { Dispatcher } from './dispatcher.js';

/**
 * A {@link Dispatcher} whose `send()` never drops bytes: what the transport does not take is
 * kept in an out buffer and sent from `handleWrite()` (asyncore's `dispatcher_with_send`).
 * `writable()` is `!connected || outBufferLength > 0`.
 *
 * - Bounded: while more than `maxOutgoing` bytes (default 1 MiB) wait in the out buffer, the
 *   dispatcher is not read (`handleRead()` waits), so a peer that never reads is pushed back by
 *   TCP; `maxOutgoing: Infinity` restores asyncore's unbounded buffer.
 * - `close()` sends what the out buffer holds before the end-of-stream (within `lingerTimeout`).
 *
 * @example
 * ```ts
 * class Echo extends DispatcherWithSend {
 *   override handleRead() { const data = this.recv(65536); if (data.length) this.send(data); }
 * }
 * ```
 */
export class DispatcherWithSend extends Dispatcher {
  // Bytes not yet taken by the transport, oldest first; #outLength is their total.
  // A ring buffer: many small sends to a congested transport must not make shift() quadratic.
  // Null until the first send the transport did not take whole (most connections never queue).
  #out: Fifo<Buffer> | null = null;
  #outLength = 0;

  /** Bytes buffered by `send()` that the transport has not taken yet. */
  get outBufferLength(): number {
    return this.#outLength;
  }

  /** Queue `data` and send what the transport takes now; returns `data`'s length (0 if closed). */
  override send(data: Uint8Array | string): number {
    const bytes = toBuffer(data, 'send');
    if (this.closed || bytes.length === 0) return 0;
    if (this.#outLength === 0 && this.connected) {
      // Nothing queued (the common case): hand the bytes over directly, queue only the rest.
      const sent = super.send(bytes);
      if (sent < bytes.length) {
        const rest = sent === 0 ? bytes : bytes.subarray(sent);
        (this.#out ??= new Fifo<Buffer>()).push(rest);
        this.#outLength += rest.length;
      }
      return bytes.length;
    }
    (this.#out ??= new Fifo<Buffer>()).push(bytes);
    this.#outLength += bytes.length;
    this.initiateSend();
    return bytes.length;
  }

  /** Move buffered bytes to the transport until it is congested. */
  initiateSend(): void {
    const out = this.#out;
    while (out !== null && out.length > 0 && this.connected) {
      const first = out.first() as Buffer;
      const sent = super.send(first);
      if (sent === 0) return;
      this.#outLength -= sent;
      if (sent < first.length) {
        out.setFirst(first.subarray(sent));
        return;
      }
      out.shift();
    }
  }

  override writable(): boolean {
    return !this.connected || this.#outLength > 0;
  }

  override handleWrite(): void {
    this.initiateSend();
  }

  /** @internal */
  override [kQueued](): number {
    return this.#outLength;
  }

  /** @internal */
  override [kTakeOutput](): Buffer | null {
    const first = this.#out?.shift();
    if (first === undefined) return null;
    this.#outLength -= first.length;
    return first;
  }
}
