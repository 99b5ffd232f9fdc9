import PQueue from 'p-queue';
import { checkPositiveInteger } from './_validate.js';
import { AbortError, InvalidArgumentError, InvalidStateError } from './errors.js';

/** Options of {@link TaskGroup}. */
export interface TaskGroupOptions {
  /** At most this many tasks run at once (p-queue); the others wait their turn. */
  concurrency?: number | undefined;
}

/**
 * Structured concurrency (asyncio's `TaskGroup`): spawn tasks, then {@link wait} for all.
 *
 * Each task gets the group's signal. The first task to fail aborts that signal (reason: the
 * failure), so its siblings can stop; tasks still queued behind `concurrency` do not start; and
 * {@link wait} rejects with that first failure, but only after every started task has settled:
 * nothing of the group is still running once `wait()` settles. Spawning after a failure, or after
 * `wait()` settled, throws.
 *
 * @example
 * ```ts
 * const group = new TaskGroup({ concurrency: 4 });
 * for (const url of urls) group.spawn((signal) => fetch(url, { signal }));
 * await group.wait();
 * ```
 */
export class TaskGroup implements AsyncDisposable {
  #controller = new AbortController();
  #queue: PQueue | undefined;
  #running = new Set<Promise<unknown>>();
  #failed = false;
  #error: unknown = undefined;
  #finished = false;

  constructor(options: TaskGroupOptions = {}) {
    if (options.concurrency !== undefined) {
      checkPositiveInteger('concurrency', options.concurrency);
      this.#queue = new PQueue({ concurrency: options.concurrency });
    }
  }

  /** The signal every task receives; aborted by the first failure (or {@link abort}). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** How many tasks have been spawned and not settled yet. */
  get size(): number {
    return this.#running.size;
  }

  /**
   * Starts `work` in the group (or queues it, with `concurrency`) and returns its own result.
   * The returned promise never counts as an unhandled rejection: the failure is reported by
   * {@link wait}.
   *
   * @throws {Error} If the group already failed or finished.
   */
  spawn<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (typeof work !== 'function') {
      throw new InvalidArgumentError(`Expected \`work\` to be a function, got \`${typeof work}\``);
    }
    if (this.#finished) throw new InvalidStateError('Cannot spawn: the task group has finished');
    if (this.#controller.signal.aborted) {
      throw new InvalidStateError('Cannot spawn: the task group is shutting down');
    }
    const signal = this.#controller.signal;
    // The failure is recorded before the queue starts the next task, so queued tasks see it.
    const start = async (): Promise<T> => {
      if (signal.aborted) throw signal.reason;
      try {
        return await work(signal);
      } catch (error) {
        this.#fail(error);
        throw error;
      }
    };
    const promise: Promise<T> = this.#queue === undefined ? start() : this.#queue.add<T>(start);
    const tracked = promise.then(
      () => undefined,
      (error: unknown) => this.#fail(error),
    );
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
    promise.catch(() => undefined); // handled: wait() reports the failure
    return promise;
  }

  /** Aborts every task's signal with `reason` (as a failure would); {@link wait} rejects with it. */
  abort(reason: unknown = new AbortError('Task group aborted')): void {
    this.#fail(reason);
  }

  /**
   * Resolves once every spawned task has settled; rejects with the first failure, after the
   * other tasks have settled too.
   */
  async wait(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
    this.#finished = true;
    if (this.#failed) throw this.#error;
  }

  /** `await using group = new TaskGroup()`: {@link wait} at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.wait();
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#error = error;
    this.#controller.abort(error);
  }
}
