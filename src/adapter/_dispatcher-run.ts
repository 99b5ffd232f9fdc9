// One connection of an asDispatcherClass() class, as the handler runner sees it (internal): the
// run (start the handler, close the writer, report an error to handleError()) and the context the
// handler gets. Both are small objects with their methods on the prototype, and the context's
// AbortController is made only when someone asks for its signal (see _lazy-controller.ts): an
// idle connection keeps no closures and no controller of its own.
import type { Duplex } from 'node:stream';
import { kStats } from '../legacy/_internal.js';
import type { Dispatcher } from '../legacy/dispatcher.js';
import type { ConnectionContext, StreamHandler } from '../modern/server.js';
import type { HandlerRun } from '../_core/runner.js';
import type { DispatcherBridge } from './_dispatcher-bridge.js';
import type { LazyController } from './_lazy-controller.js';

/** The runner's view of one connection: the handler on the bridge's reader and writer. */
export class DispatcherRun implements HandlerRun {
  readonly socket: Duplex;
  // The dispatcher's own error handling closes the connection (handleError()).
  readonly closeAfterError = false;
  readonly #dispatcher: Dispatcher;
  readonly #bridge: DispatcherBridge;
  readonly #handler: StreamHandler;
  readonly #context: ConnectionContext;
  readonly #lazy: LazyController;

  constructor(
    dispatcher: Dispatcher,
    bridge: DispatcherBridge,
    handler: StreamHandler,
    context: ConnectionContext,
    lazy: LazyController,
  ) {
    this.socket = dispatcher.socket!;
    this.#dispatcher = dispatcher;
    this.#bridge = bridge;
    this.#handler = handler;
    this.#context = context;
    this.#lazy = lazy;
  }

  get controller(): AbortController {
    return this.#lazy.controller;
  }

  start(): Promise<void> | void {
    const bridge = this.#bridge;
    return this.#handler(bridge.reader, bridge.writer, this.#context);
  }

  close(): void {
    this.#bridge.writer.close();
  }

  // Errors go to this connection's handleError(), from within its loop.
  report(error: unknown): void {
    this.#bridge.raise(error);
  }

  refused(): void {
    this.#dispatcher.map[kStats].refused++;
  }

  fail(reason: unknown): void {
    this.#bridge.reader.setException(reason);
    this.#bridge.raise(reason);
  }
}
