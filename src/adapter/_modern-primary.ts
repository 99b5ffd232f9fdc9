// A mixed server's modern primary on its own socket, without a shadow (internal): the wiring of the
// socket to the handler's reader and writer, and the run the connection's runner settles, in one
// object (as startServer's ServedConnection). Per connection, that spares a second runner (its
// promise, reaction and bound functions), a separate run object, the writer's own 'error'
// listener (the wire forwards the socket's errors to it) and the mixed server's own 'close'
// listener (the wire tells the connection when its socket closed).
import type { Address } from '../address.js';
import type { ConnectionContext, StreamHandler } from '../modern/server.js';
import { Wire } from '../modern/_wire.js';
import type { StreamWriterOptions } from '../modern/writer.js';
import type { Duplex } from 'node:stream';
import { LazyContext, type LazyController } from './_lazy-controller.js';
import type { Run } from './_shadow.js';

/** What the primary tells its connection. */
export interface ModernPrimaryOwner {
  readonly id: number;
  readonly remoteAddress: Address;
  /** The connection's abort: the primary's signal. */
  readonly lazy: LazyController;
  /** The socket closed (after the writer and the reader learnt it). */
  socketClosed(): void;
}

export class ModernPrimary extends Wire implements Run {
  readonly #owner: ModernPrimaryOwner;
  readonly #handler: StreamHandler;
  readonly #context: ConnectionContext;

  constructor(
    owner: ModernPrimaryOwner,
    handler: StreamHandler,
    socket: Duplex,
    limit: number | undefined,
    writerOptions: StreamWriterOptions,
  ) {
    // forwardErrors: the socket's errors reach the writer through this wire's listener.
    super(socket, limit, writerOptions, true);
    this.#owner = owner;
    this.#handler = handler;
    this.#context = new LazyContext(owner.id, owner.remoteAddress, owner.lazy, false);
  }

  /** Runs the handler; the connection's runner settles what it returns. */
  start(): Promise<void> | void {
    return this.#handler(this.reader, this.writer, this.#context);
  }

  /** The handler settled: the connection closes gracefully (flushed, lingering). */
  done(): void {
    this.writer.close();
  }

  /** A forced stop (shutdown, idle timeout): the signal aborts, the reader fails, the socket goes. */
  stop(reason: unknown): void {
    this.#owner.lazy.abort(reason);
    this.fail(reason);
  }

  // A socket error: the writer records it first (it has no listener of its own), then the reader.
  override error(error: unknown): void {
    this.forwardError(error);
    super.error(error);
  }

  // The socket closed: the writer and the reader learn it, then the connection.
  override closed(): void {
    super.closed();
    this.#owner.socketClosed();
  }
}
