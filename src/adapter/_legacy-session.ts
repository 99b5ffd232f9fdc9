// One legacy dispatcher serving one connection of a modern server (internal; used by
// asStreamHandler()): the handler's promise settles once the dispatcher has closed and everything
// it sent reached the writer; the connection's signal aborting closes the dispatcher. One object
// per connection, its listeners the object itself (an AbortSignal calls `handleEvent()`, an
// eventemitter3 listener takes a context), not closures.
import type { Duplex } from 'node:stream';
import type { Dispatcher } from '../legacy/dispatcher.js';
import type { ConnectionContext } from '../modern/server.js';
import type { StreamDuplex, TransportCloseObserver } from './_stream-duplex.js';

export class LegacySession implements TransportCloseObserver {
  /** Settles once the dispatcher has closed and its writes have been handed on. */
  readonly done: Promise<void>;
  readonly #dispatcher: Dispatcher;
  readonly #socket: Duplex;
  readonly #context: ConnectionContext;
  #resolve!: () => void;
  // The signal watched (an abort listener added), if it is.
  #signal: AbortSignal | undefined = undefined;

  constructor(dispatcher: Dispatcher, socket: Duplex, context: ConnectionContext) {
    this.#dispatcher = dispatcher;
    this.#socket = socket;
    this.#context = context;
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
   *
   * Over a {@link StreamDuplex} watching the server's socket, the socket's close stands for the
   * signal, which is then never asked for (an AbortController and its signal cost ~800 bytes
   * per idle connection): a server aborts a running handler's signal only when its socket
   * closes or as it destroys the socket (an idle timeout, a forced shutdown), whose close
   * follows.
   */
  watchSignal(): void {
    if (this.#dispatcher.closed) return;
    const socket = this.#socket as Partial<StreamDuplex>;
    if (socket.watchesTransport === true) {
      socket.observeClose!(this);
      return;
    }
    const signal = this.#context.signal;
    if (signal.aborted) {
      this.#dispatcher.close();
      return;
    }
    this.#signal = signal;
    signal.addEventListener('abort', this, { once: true });
  }

  /** The signal aborted (EventTarget listener object). */
  handleEvent(): void {
    this.#signal = undefined;
    this.#dispatcher.close();
  }

  /** The watched socket closed (see {@link watchSignal}). */
  transportClosed(): void {
    if (!this.#dispatcher.closed) this.#dispatcher.close();
  }

  /** The dispatcher closed: everything it sent reaches the writer, then `done` resolves. */
  closed(): void {
    const signal = this.#signal;
    if (signal !== undefined) {
      this.#signal = undefined;
      signal.removeEventListener('abort', this);
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
