// One legacy dispatcher serving one connection of a modern server (internal; used by
// asStreamHandler()): the handler's promise settles once the dispatcher has closed and everything
// it sent reached the writer; the connection's signal aborting closes the dispatcher. One object
// per connection, its listeners the object itself (an AbortSignal calls `handleEvent()`, an
// eventemitter3 listener takes a context), not closures.
import type { Duplex } from 'node:stream';
import type { Dispatcher } from '../legacy/dispatcher.js';

export class LegacySession {
  /** Settles once the dispatcher has closed and its writes have been handed on. */
  readonly done: Promise<void>;
  readonly #dispatcher: Dispatcher;
  readonly #socket: Duplex;
  readonly #signal: AbortSignal;
  #resolve!: () => void;
  #watching = false;

  constructor(dispatcher: Dispatcher, socket: Duplex, signal: AbortSignal) {
    this.#dispatcher = dispatcher;
    this.#socket = socket;
    this.#signal = signal;
    this.done = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
    // A dispatcher emits 'close' once, however it closes (close(), handleClose(), closeAll()).
    if (dispatcher.closed) this.closed();
    else dispatcher.once('close', onDispatcherClose, this);
  }

  /**
   * Closes the dispatcher when the signal aborts (the server aborts it when the connection
   * closes, so a dispatcher that would never look at its closed transport, readable() and
   * writable() both false, is closed anyway).
   */
  watchSignal(): void {
    if (this.#dispatcher.closed) return;
    if (this.#signal.aborted) {
      this.#dispatcher.close();
      return;
    }
    this.#watching = true;
    this.#signal.addEventListener('abort', this, { once: true });
  }

  /** The signal aborted (EventTarget listener object). */
  handleEvent(): void {
    this.#watching = false;
    this.#dispatcher.close();
  }

  /** The dispatcher closed: everything it sent reaches the writer, then `done` resolves. */
  closed(): void {
    if (this.#watching) {
      this.#watching = false;
      this.#signal.removeEventListener('abort', this);
    }
    const socket = this.#socket;
    if (socket.writableFinished || socket.destroyed) {
      this.#resolve();
      return;
    }
    const resolve = this.#resolve;
    const finished = (): void => {
      socket.off('finish', finished);
      socket.off('close', finished);
      resolve();
    };
    socket.on('finish', finished);
    socket.on('close', finished);
  }
}

function onDispatcherClose(this: LegacySession): void {
  this.closed();
}
