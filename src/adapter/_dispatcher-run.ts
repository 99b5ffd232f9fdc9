// One connection of an asDispatcherClass() class, as the handler runner sees it (internal): the
// dispatcher bridge (delegate, flow-control hooks, writer's transport) is also the run (start the
// handler, close the writer, report an error to handleError()) and the source of the context's
// signal, in one object with its methods on the prototype. The AbortController behind
// `context.signal` is made only when someone asks for the signal (a handler that reads it, the
// runner's queue or idle clock, an error to classify); an abort before that is remembered and the
// controller, once made, starts aborted with that reason. An idle connection keeps no closures
// and no controller of its own.
import type { Duplex } from 'node:stream';
import { kStats } from '../legacy/_internal.js';
import type { Dispatcher } from '../legacy/dispatcher.js';
import { ConnectionClosedError } from '../modern/errors.js';
import type { ConnectionContext, StreamHandler } from '../modern/server.js';
import {
  abortSlot,
  controllerOf,
  NOT_ABORTED,
  slotAborted,
  type AbortSlot,
} from '../_core/lazy-abort.js';
import type { HandlerRun } from '../_core/runner.js';
import { DispatcherBridge, type BridgeOptions } from './_dispatcher-bridge.js';
import { LazyContext } from './_lazy-controller.js';

/** The bridge of an asDispatcherClass() connection, and the runner's view of it. */
export class DispatcherRun extends DispatcherBridge implements HandlerRun {
  /** The client's socket (kept: the dispatcher drops its own once closed). */
  readonly socket: Duplex;
  /** What the handler gets as its third argument. */
  readonly context: ConnectionContext;
  readonly #handler: StreamHandler;
  // The AbortController once made; before that, whether (and why) an abort came.
  #controller: AbortSlot = NOT_ABORTED;

  constructor(
    dispatcher: Dispatcher,
    options: BridgeOptions,
    handler: StreamHandler,
    id: number,
    remoteAddress: ConnectionContext['remoteAddress'],
  ) {
    super(dispatcher, options);
    this.socket = dispatcher.socket!;
    this.#handler = handler;
    this.context = new LazyContext(id, remoteAddress, this);
  }

  // The dispatcher's own error handling closes the connection (handleError()).
  get closeAfterError(): boolean {
    return false;
  }

  /** The connection's AbortController, made on first use (aborted if an abort came first). */
  get controller(): AbortController {
    return (this.#controller = controllerOf(this.#controller));
  }

  /** The context's signal: aborted when the connection closes (or the handler is stopped). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The connection is gone: the signal aborts (the first reason wins), made or not. */
  protected override lost(): void {
    if (slotAborted(this.#controller)) return;
    this.#controller = abortSlot(this.#controller, new ConnectionClosedError('Connection closed'));
  }

  start(): Promise<void> | void {
    return this.#handler(this.reader, this.writer, this.context);
  }

  close(): void {
    this.writer.close();
  }

  // Errors go to this connection's handleError(), from within its loop.
  report(error: unknown): void {
    this.raise(error);
  }

  refused(): void {
    this.dispatcher.map[kStats].refused++;
  }

  fail(reason: unknown): void {
    this.reader.setException(reason);
    this.raise(reason);
  }
}
