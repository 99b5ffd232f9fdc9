// The life of one Dispatcher and the one path through which the library calls its handlers
// (internal): one ordered state instead of a dozen flags, the close and error waiting for the next
// round, and the readiness and dispatch rules of loop().
//
// The state is held by the dispatcher itself, in three fields keyed by the symbols below (an idle
// connection holds no lifecycle object of its own, DESIGN's bytes per idle connection): one small
// integer (the State and a few flags), the error raised for the next round, and its transport or
// its listener (a connection never has a listener, a listener never has a transport).
import type { Duplex } from 'node:stream';
import type { Dispatcher } from './dispatcher.js';
import { describeError, kCall, kCanRead, kCanWrite, kFail, kId, kLog } from './_handlers.js';
import { kAdd, kDelegate, kDelete, kInRound, kStats, kTakeOutput, kTouch } from './_internal.js';
import type { Listener } from './_listener.js';
import { connectionClosed, connectionOpened } from './_observe.js';
import { Transport, isDisconnect, type ConnectEvent } from './_transport.js';
import { InvalidStateError } from '../errors.js';

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

// The bits of `dispatcher[kLife]`: the State in the low three, then the flags.
export const enum Life {
  StateMask = 7,
  // handleClose() has been called by the library (it runs at most once).
  CloseHandled = 8,
  // Waiting for the next round: a close noticed (the transport is gone: handleClose() is due) or
  // requested (close() is due); a request replaces a notice.
  CloseNoticed = 16,
  CloseRequested = 32,
  PendingClose = CloseNoticed | CloseRequested,
  // `dispatcher[kIo]` is a Listener (listen() was called), not a Transport.
  HasListener = 64,
  // setReuseAddr() was called.
  ReuseAddr = 128,
}

/** `dispatcher[kLife]`: the {@link Life} bits (the State and the flags). */
export const kLife: unique symbol = Symbol('dispatch-bridge.life');
/** `dispatcher[kRaised]`: an error for handleError() in the next round (kRaise, a listener's). */
export const kRaised: unique symbol = Symbol('dispatch-bridge.raised');
/** `dispatcher[kIo]`: its Transport, its Listener (with Life.HasListener), or null. */
export const kIo: unique symbol = Symbol('dispatch-bridge.io');

/** The dispatcher's State. */
export function stateOf(d: Dispatcher): State {
  return d[kLife] & Life.StateMask;
}

/** Moves the dispatcher to `state` (its flags are kept). */
export function setState(d: Dispatcher, state: State): void {
  d[kLife] = (d[kLife] & ~Life.StateMask) | state;
}

/** Whether the dispatcher has `flag` set. */
export function hasFlag(d: Dispatcher, flag: Life): boolean {
  return (d[kLife] & flag) !== 0;
}

/** The dispatcher's transport, or null (never had one, or is a listener). */
export function transportOf(d: Dispatcher): Transport | null {
  return (d[kLife] & Life.HasListener) !== 0 ? null : (d[kIo] as Transport | null);
}

/** The dispatcher's listener, or null. */
export function listenerOf(d: Dispatcher): Listener | null {
  return (d[kLife] & Life.HasListener) !== 0 ? (d[kIo] as Listener) : null;
}

/** Whether the dispatcher would be dispatched in this round (`kReady`). */
export function ready(d: Dispatcher): boolean {
  const life = d[kLife];
  const state = (life & Life.StateMask) as State;
  if (state === State.Closed) return false;
  if (d[kRaised] !== null || (life & Life.PendingClose) !== 0) return true;
  try {
    if ((life & Life.HasListener) !== 0) {
      return (d[kIo] as Listener).pendingCount > 0 && d[kCanRead]();
    }
    const transport = d[kIo] as Transport | null;
    if (transport === null) return false;
    if (transport.failed && (life & Life.CloseHandled) === 0) return true;
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
export function dispatch(d: Dispatcher): void {
  const life = d[kLife];
  if (stateOf(d) === State.Closed) return;
  const raised = d[kRaised];
  if (raised !== null) {
    d[kRaised] = null;
    d[kFail](raised.value);
    return;
  }
  const pending = life & Life.PendingClose;
  if (pending !== 0) {
    d[kLife] = life & ~Life.PendingClose;
    if ((pending & Life.CloseRequested) !== 0) d.close();
    else dispatchClose(d);
    return;
  }
  try {
    dispatchIo(d);
  } catch (error) {
    d[kFail](error);
  }
}

function dispatchIo(d: Dispatcher): void {
  if (hasFlag(d, Life.HasListener)) {
    if (stateOf(d) === State.Listening && (d[kIo] as Listener).pendingCount > 0 && d[kCanRead]()) {
      d[kCall]('accept');
    }
    return;
  }
  const transport = d[kIo] as Transport | null;
  if (transport === null) return;
  const error = transport.takeError();
  if (error !== null && !isDisconnect(error.value)) {
    d[kFail](error.value);
    return;
  }
  if (stateOf(d) === State.Connecting) {
    if (!transport.connectDone) {
      if (transport.failed) dispatchClose(d);
      return;
    }
    setState(d, State.Connected);
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
  if (transport.failed && !hasFlag(d, Life.CloseHandled) && !read) {
    // A reset (or a close) whose bytes were delivered, or that readable() keeps waiting.
    dispatchClose(d);
    return;
  }
  if (d.connected && !transport.socket.writableNeedDrain && d[kCanWrite]()) {
    d[kCall]('write');
  }
}

/** The connection ended: handleClose() (once), now if inside a round, else in the next one. */
export function noticeClose(d: Dispatcher): void {
  const life = d[kLife];
  if ((life & Life.CloseHandled) !== 0 || stateOf(d) >= State.Closing) return;
  if (d.map[kInRound]) {
    dispatchClose(d);
  } else if ((life & Life.PendingClose) === 0) {
    d[kLife] = life | Life.CloseNoticed;
    d.map[kTouch](d);
  }
}

/** handleClose() now, unless it ran already or the dispatcher is closing. */
export function dispatchClose(d: Dispatcher): void {
  const life = d[kLife];
  if ((life & Life.CloseHandled) !== 0 || stateOf(d) >= State.Closing) return;
  d[kLife] = life | Life.CloseHandled;
  try {
    d.handleClose();
  } catch (error) {
    d[kLog](`Error in handleClose(), closing: ${describeError(error)}`);
    d.close();
  }
  // A bridged dispatcher's streams are done: it cannot stay half-closed.
  if (d[kDelegate] !== null) d.close();
}

/** Gives the dispatcher its transport over `socket` and adds it to its map (an open connection). */
export function attachTransport(
  d: Dispatcher,
  socket: Duplex,
  connectEvent: ConnectEvent | null,
): void {
  d[kIo] = new Transport(socket, connectEvent, d);
  setState(d, connectEvent === null ? State.Connected : State.Connecting);
  d.map[kAdd](d);
  d[kId] = connectionOpened(d.map[kStats], socket, d.constructor.name);
}

/** `Dispatcher.close()`: handleClose() if it has not run, then out of the map, then 'close'. */
export function closeDispatcher(d: Dispatcher, lingerTimeout: number): void {
  if (stateOf(d) >= State.Closing) return;
  setState(d, State.Closing);
  if (!hasFlag(d, Life.CloseHandled)) {
    d[kLife] |= Life.CloseHandled;
    try {
      d.handleClose(); // the default handleClose() calls close(): Closing ends the recursion
    } catch (error) {
      d[kLog](`Error in handleClose(), closing: ${describeError(error)}`);
    }
  }
  d[kLife] = (d[kLife] & ~(Life.StateMask | Life.PendingClose)) | State.Closed;
  d[kRaised] = null;
  d.map[kDelete](d);
  listenerOf(d)?.close();
  const transport = transportOf(d);
  transport?.release(lingerTimeout, () => d[kTakeOutput]());
  if (transport !== null) connectionClosed(d.map[kStats], transport.socket, d[kId]);
  try {
    d.emit('close');
  } catch (error) {
    d[kLog](`Error in a 'close' listener: ${describeError(error)}`);
  }
  d[kDelegate]?.closed();
}

/** Throws an InvalidStateError naming `method` once the dispatcher is closed. */
export function assertOpen(d: Dispatcher, method: string): void {
  if (stateOf(d) === State.Closed)
    throw new InvalidStateError(`Cannot ${method}(): the dispatcher is closed`);
}
