// The life of one Dispatcher and the one path through which the library calls its handlers
// (internal): one ordered state instead of a dozen flags, the close and error waiting for the next
// round, and the readiness and dispatch rules of loop().
import type { Dispatcher } from './dispatcher.js';
import { describeError, kCall, kCanRead, kCanWrite, kFail, kLog } from './_handlers.js';
import { kDelegate, kInRound, kTouch } from './_internal.js';
import type { Listener } from './_listener.js';
import { isDisconnect, type Transport } from './_transport.js';

// The life of a dispatcher, in order. A connection goes Initial -> Connecting -> Connected ->
// Closing -> Closed (an accepted socket starts Connected), a listener Initial -> Listening ->
// Closing -> Closed. Closing lasts while close() runs handleClose() and releases the transport.
export enum State {
  Initial,
  Connecting,
  Connected,
  Listening,
  Closing,
  Closed,
}

// A close noticed (the transport is gone: handleClose() is due) or requested (close() is due),
// waiting for the next round.
export enum PendingClose {
  None,
  Noticed,
  Requested,
}

/** A dispatcher's state and what is due for it; the dispatcher's facade reads and sets it. */
export class Lifecycle {
  state = State.Initial;
  // handleClose() has been called by the library (it runs at most once).
  closeHandled = false;
  pendingClose = PendingClose.None;
  // An error for handleError() in the next round (kRaise, a listener's server error).
  raised: { value: unknown } | null = null;
  transport: Transport | null = null;
  listener: Listener | null = null;
  readonly #dispatcher: Dispatcher;

  constructor(dispatcher: Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  /** Whether the dispatcher would be dispatched in this round (`kReady`). */
  ready(): boolean {
    const d = this.#dispatcher;
    const state = this.state;
    if (state === State.Closed) return false;
    if (this.raised !== null || this.pendingClose !== PendingClose.None) return true;
    try {
      if (state === State.Listening) {
        return (this.listener as Listener).pendingCount > 0 && d[kCanRead]();
      }
      const transport = this.transport;
      if (transport === null) return false;
      if (transport.failed && !this.closeHandled) return true;
      if (state === State.Connecting) {
        return transport.connectDone && (d[kCanRead]() || d[kCanWrite]());
      }
      if ((transport.readableLength > 0 || transport.ended) && d[kCanRead]()) return true;
      return state === State.Connected && !transport.socket.writableNeedDrain && d[kCanWrite]();
    } catch (error) {
      d[kFail](error);
      return false;
    }
  }

  /** Runs what is due, each handler through the dispatch path (`kDispatch`). */
  dispatch(): void {
    const d = this.#dispatcher;
    if (this.state === State.Closed) return;
    const raised = this.raised;
    if (raised !== null) {
      this.raised = null;
      d[kFail](raised.value);
      return;
    }
    const pending = this.pendingClose;
    if (pending !== PendingClose.None) {
      this.pendingClose = PendingClose.None;
      if (pending === PendingClose.Requested) d.close();
      else this.dispatchClose();
      return;
    }
    try {
      this.#dispatchIo();
    } catch (error) {
      d[kFail](error);
    }
  }

  #dispatchIo(): void {
    const d = this.#dispatcher;
    if (this.state === State.Listening) {
      if ((this.listener as Listener).pendingCount > 0 && d[kCanRead]()) {
        d[kCall]('accept');
      }
      return;
    }
    const transport = this.transport;
    if (transport === null) return;
    const error = transport.takeError();
    if (error !== null && !isDisconnect(error.value)) {
      d[kFail](error.value);
      return;
    }
    if (this.state === State.Connecting) {
      if (!transport.connectDone) {
        if (transport.failed) this.dispatchClose();
        return;
      }
      this.state = State.Connected;
      if (!d[kCall]('connect')) return;
    }
    // What the Duplex received is read first, one handleRead() per round, then the end-of-stream
    // read (its recv() runs handleClose()), after a reset too: asyncore's recv() of a reset socket
    // returns b'' and closes it.
    let read = false;
    if ((transport.readableLength > 0 || transport.ended) && d[kCanRead]()) {
      if (!d[kCall]('read')) return;
      read = true;
    }
    if (transport.failed && !this.closeHandled && !read) {
      // A reset (or a close) whose bytes were delivered, or that readable() keeps waiting.
      this.dispatchClose();
      return;
    }
    if (d.connected && !transport.socket.writableNeedDrain && d[kCanWrite]()) {
      d[kCall]('write');
    }
  }

  // The connection ended: handleClose() (once), now if inside a round, else in the next one.
  noticeClose(): void {
    const d = this.#dispatcher;
    if (this.closeHandled || this.state >= State.Closing) return;
    if (d.map[kInRound]) {
      this.dispatchClose();
    } else if (this.pendingClose === PendingClose.None) {
      this.pendingClose = PendingClose.Noticed;
      d.map[kTouch](d);
    }
  }

  dispatchClose(): void {
    const d = this.#dispatcher;
    if (this.closeHandled || this.state >= State.Closing) return;
    this.closeHandled = true;
    try {
      d.handleClose();
    } catch (error) {
      d[kLog](`Error in handleClose(), closing: ${describeError(error)}`);
      d.close();
    }
    // A bridged dispatcher's streams are done: it cannot stay half-closed.
    if (d[kDelegate] !== null) d.close();
  }
}
