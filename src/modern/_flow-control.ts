// The hold a StreamReader has on its transport (internal): asyncio's pause_reading() /
// resume_reading() pair. The reader pauses the transport when it buffers more than 2 × `limit`
// bytes with no read waiting, and resumes it once a read takes the buffer back to `limit` or
// below, or has to wait for more.
import type { FlowControlHooks } from './_read-options.js';

/** The transport's hooks and whether the reader holds it paused. */
export class FlowControl {
  // True between a pause() and the next resume() call on the hooks.
  #paused = false;
  // The hooks object itself, its methods called on it (`hooks.pause()`): a wiring passes one
  // object with both methods instead of two closures per connection. Null without hooks.
  #hooks: FlowControlHooks | null = null;

  constructor(hooks: FlowControlHooks) {
    this.set(hooks);
  }

  /** Whether the transport is held paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** New hooks (or none); a paused state carries over to them. */
  set(hooks: FlowControlHooks | null): void {
    this.#hooks =
      hooks === null || (hooks.pause === undefined && hooks.resume === undefined) ? null : hooks;
  }

  /** Pauses the transport when `buffered` is over 2 × `limit`. */
  pauseOver(buffered: number, limit: number): void {
    if (!this.#paused && buffered > 2 * limit) {
      this.#paused = true;
      this.#hooks?.pause?.();
    }
  }

  /** Resumes a paused transport when `buffered` is back to `limit` or below. */
  resumeUnder(buffered: number, limit: number): void {
    if (this.#paused && buffered <= limit) this.resume();
  }

  /** Resumes a paused transport. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#hooks?.resume?.();
  }
}
