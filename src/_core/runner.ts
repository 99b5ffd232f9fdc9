// The one runner of a StreamHandler (internal): startServer, the mixed server's modern side and
// asDispatcherClass all run their handlers through it, so the rules below hold everywhere.
//
// - concurrency: at most N handlers run at once (p-queue). A slot is freed as soon as its
//   connection is gone, even if the handler hangs (its signal is aborted, it is no longer
//   counted). A connection waiting for a slot does not count as idle; it waits at most
//   `queueTimeout` ms, then it is refused (closed, its signal aborted with a TimeoutError).
// - idleTimeout counts from when the handler starts: no traffic either way for that long aborts
//   the handler's signal with a TimeoutError and fails the connection.
// - reporting: a rejection with the handler's own signal.reason (our cancellation came back) or
//   a ConnectionClosedError after its connection went away (the peer left) is not an error;
//   anything else is reported once.
// - when the handler settles, its writer is closed (flushed, lingering: see linger.ts).
import type { Duplex } from 'node:stream';
import net from 'node:net';
import PQueue from 'p-queue';
import { ConnectionClosedError, TimeoutError } from '../errors.js';

export interface RunnerOptions {
  concurrency?: number | undefined;
  idleTimeout?: number | undefined;
  queueTimeout?: number | undefined;
}

export interface HandlerRun {
  /** Runs the handler (e.g. `handler(reader, writer, context)`); settles when it is done. */
  start(): Promise<void> | void;
  /** Closes the connection gracefully once the handler is done (e.g. `writer.close()`). */
  close(): void;
  /** A handler error that is not a disconnect. */
  report(error: unknown): void;
  controller: AbortController;
  /** The client's socket, for the idle clock (a net.Socket) and to be cut when idle. */
  socket: Duplex;
  /** Fails the connection (idle timeout): the reader rejects with `reason`, the socket goes. */
  fail(reason: unknown): void;
  /** Called when the connection is refused: no concurrency slot within `queueTimeout`. */
  refused?: (() => void) | undefined;
  /**
   * Whether the writer is closed after a reported error too (default true). A legacy host whose
   * error handling closes the connection itself (handleError()) says false.
   */
  closeAfterError?: boolean | undefined;
}

/**
 * Whether `error` is the handler's own connection going away, not a handler failure: the reason
 * its signal was aborted with, or a `ConnectionClosedError` once the connection is gone (its
 * signal aborted, or its `socket` already destroyed: a reset rejects a pending read on the
 * socket's 'error', a tick before the 'close' that aborts the signal).
 */
export function isOwnDisconnect(
  error: unknown,
  signal: AbortSignal,
  socket?: { readonly destroyed: boolean },
): boolean {
  if (error instanceof ConnectionClosedError && socket?.destroyed === true) return true;
  if (!signal.aborted) return false;
  if (error === signal.reason) return true;
  return error instanceof ConnectionClosedError && signal.reason instanceof ConnectionClosedError;
}

export class HandlerRunner {
  readonly #queue: PQueue | undefined;
  readonly #idleTimeout: number | undefined;
  readonly #queueTimeout: number | undefined;

  constructor(options: RunnerOptions) {
    this.#queue =
      options.concurrency === undefined
        ? undefined
        : new PQueue({ concurrency: options.concurrency });
    this.#idleTimeout =
      options.idleTimeout !== undefined && options.idleTimeout > 0
        ? options.idleTimeout
        : undefined;
    this.#queueTimeout = options.queueTimeout;
  }

  /** Handlers waiting for a concurrency slot. */
  get waiting(): number {
    return this.#queue?.size ?? 0;
  }

  /** Handlers holding a concurrency slot (or running, without concurrency: not counted). */
  get running(): number {
    return this.#queue?.pending ?? 0;
  }

  /** Runs the handler (after a slot is free); resolves when it is done. Never rejects. */
  run(run: HandlerRun): Promise<void> {
    const queue = this.#queue;
    if (queue !== undefined) return this.#runQueued(run, queue);
    try {
      return this.#execute(run);
    } catch (error) {
      // As an async run() would: what throws (a host's report() or close()) rejects, as is.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
  }

  async #runQueued(run: HandlerRun, queue: PQueue): Promise<void> {
    const signal = run.controller.signal;
    let release!: () => void;
    const gone = new Promise<void>((resolve) => (release = resolve));
    const onAbort = (): void => release();
    signal.addEventListener('abort', onAbort, { once: true });
    let execution: Promise<void> | undefined;
    const wait = this.#queueTimeout;
    const timer =
      wait === undefined
        ? undefined
        : setTimeout(() => {
            if (execution !== undefined || signal.aborted) return;
            run.refused?.();
            run.controller.abort(
              new TimeoutError(wait, `Refused: no concurrency slot within ${wait} ms`),
            );
          }, wait);
    try {
      await queue.add(
        async () => {
          clearTimeout(timer);
          if (signal.aborted) return;
          execution = this.#execute(run);
          // The slot is held while the handler runs and its connection is there.
          await Promise.race([execution, gone]);
        },
        // Aborted while queued (gone, refused, shut down): it leaves the queue at once.
        { signal },
      );
    } catch {
      // Removed from the queue by its signal: the handler never starts (below).
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
    if (execution === undefined) {
      // Cut off while waiting for its turn: the handler never starts.
      run.close();
      return;
    }
    await execution;
  }

  // Not an async function: a suspended one costs a generator, its registers and the closures of
  // its await per connection, for as long as the handler runs. One reaction on the handler's
  // promise does the same.
  #execute(run: HandlerRun): Promise<void> {
    const stopIdle = this.#startIdleClock(run);
    let result: Promise<void> | void;
    try {
      result = run.start();
    } catch (error) {
      finish(run, stopIdle, error);
      return Promise.resolve();
    }
    // Without an idle clock, the reaction's two functions are bound to the run (no closure
    // context per connection).
    if (stopIdle === noop) {
      return Promise.resolve(result).then(fulfilled.bind(run), rejected.bind(run));
    }
    return Promise.resolve(result).then(
      () => finish(run, stopIdle, NO_ERROR),
      (error: unknown) => finish(run, stopIdle, error),
    );
  }

  #startIdleClock(run: HandlerRun): () => void {
    const idle = this.#idleTimeout;
    const socket = run.socket;
    if (idle === undefined || !(socket instanceof net.Socket)) return noop;
    const onTimeout = (): void => {
      const reason = new TimeoutError(idle, `Connection idle for ${idle} ms`);
      if (!run.controller.signal.aborted) run.controller.abort(reason);
      run.fail(reason);
    };
    socket.setTimeout(idle);
    socket.on('timeout', onTimeout);
    return () => {
      socket.off('timeout', onTimeout);
      if (!socket.destroyed) socket.setTimeout(0);
    };
  }
}

const noop = (): void => {};

// The handler settled without an error.
const NO_ERROR = Symbol('no error');

// The handler of the run `this` settled (without an idle clock).
function fulfilled(this: HandlerRun): void {
  finish(this, noop, NO_ERROR);
}
function rejected(this: HandlerRun, error: unknown): void {
  finish(this, noop, error);
}

// The handler settled: an error that is not its own disconnect is reported (once), the idle clock
// stops, and the connection is closed (unless a reported error's host closes it itself).
function finish(run: HandlerRun, stopIdle: () => void, error: unknown): void {
  let reported = false;
  try {
    if (error !== NO_ERROR && !isOwnDisconnect(error, run.controller.signal, run.socket)) {
      reported = true;
      run.report(error);
    }
  } finally {
    stopIdle();
    if (!reported || run.closeAfterError !== false) run.close();
  }
}
