/**
 * Pitfall: where errors go, in each world.
 *
 * - legacy: an exception thrown by a handler goes to `handleError()` of that dispatcher (default:
 *   log it, close the connection). The loop and the other connections go on.
 * - modern: a handler that throws or rejects closes its own connection and is reported through
 *   the server's `'error'` event (and `onError`). The server goes on.
 * - THE PITFALL: a promise rejected inside a legacy callback (an `async handleRead()`, or a
 *   promise started from it) escapes `handleError()`: the loop called a function that returned
 *   at its first `await`. It becomes an unhandled rejection, which by default ends the process.
 *   The fix: catch it and pass it on, `.catch((error) => this.handleError(error))`.
 *
 * @module
 */
import { DispatcherWithSend } from 'dispatch-bridge/legacy';
import type { StreamReader, StreamWriter } from 'dispatch-bridge/modern';

/**
 * Legacy: echoes, but throws on input containing "boom"; the error reaches `handleError()`.
 *
 * @example
 * ```ts
 * const echo = new FragileEcho({ socket, map }); // after "boom": echo.errors has the Error
 * ```
 */
export class FragileEcho extends DispatcherWithSend {
  readonly errors: unknown[] = [];

  override handleRead(): void {
    const data = this.recv(4096);
    if (data.includes('boom')) throw new Error('Cannot echo: boom');
    if (data.length > 0) this.send(data);
  }

  override handleError(error: unknown): void {
    this.errors.push(error);
    this.close(); // what the default does, minus the log line
  }
}

/**
 * Modern: the same handler; its errors go to the server's 'error' event.
 *
 * @example
 * ```ts
 * const server = await startServer(fragileEcho, { port: 0 });
 * server.on('error', (error, context) => console.log(context?.id, error));
 * ```
 */
export async function fragileEcho(reader: StreamReader, writer: StreamWriter): Promise<void> {
  for (;;) {
    const data = await reader.read(4096);
    if (data.length === 0) return;
    if (data.includes('boom')) throw new Error('Cannot echo: boom');
    writer.write(data);
    await writer.drain();
  }
}

/**
 * Legacy with async work inside a callback, done right: rejections reach handleError().
 *
 * @example
 * ```ts
 * const echo = new AsyncWorkEcho({ socket, map }); // an async "boom" still reaches echo.errors
 * ```
 */
export class AsyncWorkEcho extends FragileEcho {
  override handleRead(): void {
    const data = this.recv(4096);
    if (data.length === 0) return;
    // `void this.check(data)` alone would leave a rejection unhandled: catch and pass it on.
    this.check(data).catch((error: unknown) => this.handleError(error));
  }

  async check(data: Buffer): Promise<void> {
    await Promise.resolve(); // stands for real async work (a database, a file)
    if (data.includes('boom')) throw new Error('Cannot echo: boom (async)');
    this.send(data);
  }
}
