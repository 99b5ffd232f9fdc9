/**
 * Pitfall: CPU-heavy work inside a handler.
 *
 * Both styles run every connection on one thread. A handler that computes for 200 ms (a
 * password hash, a big JSON, a regex gone wild) stalls every other connection for 200 ms: no
 * `handleRead()` of anyone else, no `await` resumes, no timer fires. Measure it with
 * `perf_hooks.monitorEventLoopDelay()`. The fix: hand the work to another thread (libuv's thread
 * pool through an async API, or a `worker_threads` Worker) and stay responsive meanwhile.
 *
 * Protocol of both servers: `HASH text` → the hex PBKDF2 of `text`; `PING` → `PONG`.
 *
 * @module
 */
import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { AsyncChat, type SocketMap } from 'dispatch-bridge/legacy';

const ITERATIONS = 100_000;

/**
 * The hash, computed on this thread: blocks everything while it runs.
 *
 * @example
 * ```ts
 * hashBlocking('secret'); // '3fa0…', after ~100k PBKDF2 iterations on the main thread
 * ```
 */
export function hashBlocking(text: string): string {
  return pbkdf2Sync(text, 'salt', ITERATIONS, 16, 'sha256').toString('hex');
}

/**
 * The same hash, computed in libuv's thread pool: this thread stays free.
 *
 * @example
 * ```ts
 * await hashInPool('secret'); // the same hex string as hashBlocking('secret')
 * ```
 */
export function hashInPool(text: string): Promise<string> {
  return new Promise((resolve, reject) =>
    pbkdf2(text, 'salt', ITERATIONS, 16, 'sha256', (error, key) =>
      error ? reject(error) : resolve(key.toString('hex')),
    ),
  );
}

abstract class HashServer extends AsyncChat {
  /** True while a request is being answered; later requests wait in `#requests`, in order. */
  protected busy = false;
  #requests: string[] = [];
  #parts: Buffer[] = [];

  constructor(socket: Duplex, map: SocketMap) {
    super({ socket, map, maxIncoming: 1024 });
    this.setTerminator('\n');
  }

  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }

  override foundTerminator(): void {
    this.#requests.push(Buffer.concat(this.#parts.splice(0)).toString());
    this.next();
  }

  /** Answer waiting requests until one is busy or none is left. */
  protected next(): void {
    while (!this.busy && this.#requests.length > 0) {
      const line = this.#requests.shift() as string;
      if (line === 'PING') this.push('PONG\n');
      else if (line.startsWith('HASH ')) this.hash(line.slice(5));
      else this.push('ERROR unknown command\n');
    }
  }

  abstract hash(text: string): void;
}

/**
 * THE PITFALL: computes inside the handler; every other connection waits.
 *
 * @example
 * ```ts
 * new BlockingHashServer(socket, map); // "HASH x" freezes everyone for the hash's duration
 * ```
 */
export class BlockingHashServer extends HashServer {
  override hash(text: string): void {
    this.push(`${hashBlocking(text)}\n`);
  }
}

/**
 * THE FIX: starts the work and returns; this connection stops reading until the answer is sent
 * (answers stay in order), while the loop goes on serving everyone else.
 *
 * @example
 * ```ts
 * new OffloadingHashServer(socket, map); // "HASH x" runs in the thread pool; PINGs are served
 * ```
 */
export class OffloadingHashServer extends HashServer {
  /** The async work; replaceable (the tests use it to hold the work until they say so). */
  work: (text: string) => Promise<string> = hashInPool;

  override readable(): boolean {
    return !this.busy;
  }

  override hash(text: string): void {
    this.busy = true;
    this.work(text).then(
      (hex) => {
        this.busy = false;
        this.push(`${hex}\n`);
        this.next();
        this.wake(); // readable() changed outside a handler: tell the loop
      },
      (error: unknown) => this.handleError(error),
    );
  }
}
