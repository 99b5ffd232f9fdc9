// One legacy dispatcher serving one connection of a modern server (internal; used by
// asStreamHandler()): the handler's promise settles once the dispatcher has closed and everything
// it sent reached the writer; the connection's signal aborting closes the dispatcher. One object
// per connection, its listeners the object itself (an AbortSignal calls `handleEvent()`, an
// eventemitter3 listener takes a context), not closures.
//
// Over a StreamDuplex (what asStreamHandler() gives its dispatchers), the Duplex tells the session
// when it is done, and the dispatcher's close always ends or destroys its socket: no listener on
// the dispatcher (~56 bytes per idle connection) unless the Duplex was done first (a reset).
import type { Duplex } from 'node:stream';
import type { Dispatcher } from '../legacy/dispatcher.js';
import type { ConnectionContext } from '../modern/server.js';
import { StreamDuplex, type TransportCloseObserver } from './_stream-duplex.js';

const noop = (): void => {};

export class LegacySession implements TransportCloseObserver {
  /** Settles once the dispatcher has closed and its writes have been handed on. */
  readonly done: Promise<void>;
  readonly #dispatcher: Dispatcher;
  readonly #socket: Duplex;
  // noop once `done` has settled.
  #resolve!: () => void;
  // The signal watched (an abort listener added), if it is.
  #signal: AbortSignal | undefined = undefined;

  constructor(dispatcher: Dispatcher, socket: Duplex) {
    this.#dispatcher = dispatcher;
    this.#socket = socket;
    this.done = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
    if (socket instanceof StreamDuplex) {
      socket.observeClose(this);
      if (socket.done) this.duplexDone();
    } else if (dispatcher.closed) {
      this.closed();
    } else {
      // A dispatcher emits 'close' once, however it closes (close(), handleClose(), closeAll()).
      dispatcher.once('close', onDispatcherClose, this);
    }
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
  watchSignal(context: ConnectionContext): void {
    if (this.#dispatcher.closed) return;
    const socket = this.#socket;
    if (socket instanceof StreamDuplex && socket.watchesTransport) return;
    const signal = context.signal;
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

  /**
   * The StreamDuplex is done: everything the dispatcher wrote was handed on (or the connection
   * is gone). Settles once the dispatcher has closed too.
   */
  duplexDone(): void {
    if (this.#dispatcher.closed) LegacySession.#settle(this);
    // The Duplex went first (a reset, or the handler's own socket.end()): its dispatcher closes
    // in its next round.
    else this.#dispatcher.once('close', onDispatcherClose, this);
  }

  /** The dispatcher closed: everything it sent reaches the writer, then `done` resolves. */
  closed(): void {
    const socket = this.#socket;
    if (socket.writableFinished || socket.destroyed || (socket as Partial<StreamDuplex>).done) {
      LegacySession.#settle(this);
      return;
    }
    const finished = (): void => {
      socket.off('finish', finished);
      socket.off('close', finished);
      LegacySession.#settle(this);
    };
    socket.on('finish', finished);
    socket.on('close', finished);
  }

  // No private method (a brand per instance): static.
  static #settle(session: LegacySession): void {
    const signal = session.#signal;
    if (signal !== undefined) {
      session.#signal = undefined;
      signal.removeEventListener('abort', session);
    }
    const resolve = session.#resolve;
    session.#resolve = noop;
    resolve();
  }
}

function onDispatcherClose(this: LegacySession): void {
  this.closed();
}
