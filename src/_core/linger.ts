// The graceful close of a connection, written once for every layer (internal).
//
// Linux answers close() on a socket whose receive queue still holds unread bytes with a reset,
// and a reset throws away what was not yet transmitted: a reply written just before the close is
// truncated. nginx's "lingering close" avoids it: end the write side, then keep reading (and
// discarding) until the peer's end-of-stream, for a bounded time. This module does the same.
//
//   closeGracefully(socket)   flush what was written, send end-of-stream, discard input
//     -> both sides ended      the stream destroys itself (autoDestroy), fd released
//     -> lingerTimeout         output made no progress for that long (a peer that never reads),
//                              or the peer kept its side open that long after ours finished:
//                              destroyed
//     -> maxLingerBytes        the peer sent more than that while we lingered: destroyed
import type { Duplex } from 'node:stream';

/** How long a closing connection may linger without progress, in ms (DESIGN's default). */
export const DEFAULT_LINGER_TIMEOUT = 5_000;
/** How many unread input bytes a lingering close reads and discards at most. */
export const DEFAULT_MAX_LINGER_BYTES = 16 * 1024 * 1024;

export interface LingerOptions {
  /** ms without output progress (or, once flushed, waiting for the peer's end) before destroy. */
  lingerTimeout?: number | undefined;
  /** Discarded input bytes before destroy. */
  maxLingerBytes?: number | undefined;
  /**
   * Output still to send before the end (a legacy dispatcher's queue): pulled as the socket
   * drains, until it returns null; a `more` that throws ends the output there.
   */
  more?: (() => Buffer | null) | undefined;
}

// Sockets already closing: closeGracefully() is idempotent.
const lingering = new WeakSet<Duplex>();

const ignore = (): void => {};

/** Whether `closeGracefully()` was called for `socket`. */
export function isLingering(socket: Duplex): boolean {
  return lingering.has(socket);
}

/**
 * Closes `socket` without truncating what was written to it: ends the write side after the
 * queued bytes, reads and discards input until the peer's end-of-stream, then lets the stream
 * destroy itself; output still queued elsewhere (`more`) is pulled and sent first, as the
 * socket drains. Bounded by `lingerTimeout` (without output progress, or after the output is
 * flushed) and `maxLingerBytes`. The caller must have removed any `'readable'` listener of its
 * own (paused mode would keep the discarding reads from running) and must ignore `'data'` from
 * now on. Idempotent; a destroyed socket is left alone.
 */
export function closeGracefully(socket: Duplex, options: LingerOptions = {}): void {
  if (socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  const timeout = options.lingerTimeout ?? DEFAULT_LINGER_TIMEOUT;
  const maxBytes = options.maxLingerBytes ?? DEFAULT_MAX_LINGER_BYTES;
  const more = options.more;
  let discarded = 0;
  let lastLength = -1;
  // Drains while `more` output is pumped: progress even when writableLength looks the same.
  let drains = 0;
  let lastDrains = 0;
  let timer: NodeJS.Timeout | undefined;

  const finish = (): void => {
    clearTimeout(timer);
    socket.off('error', ignore);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('finish', onFinish);
    socket.off('drain', pump);
  };
  const onData = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded > maxBytes) socket.destroy();
  };
  // A Duplex without autoDestroy (or with a half-open peer that ended first) is destroyed here
  // once both sides are done.
  const onEnd = (): void => {
    if (socket.writableFinished) socket.destroy();
  };
  const onFinish = (): void => {
    if (socket.readableEnded) {
      socket.destroy();
      return;
    }
    // Everything was handed over: from now on the clock counts the wait for the peer's end.
    lastLength = -1;
    timer?.refresh();
  };
  const onTimer = (): void => {
    // Output still moving (a slow reader, not a dead one): keep going.
    if (
      !socket.writableFinished &&
      (socket.writableLength !== lastLength || drains !== lastDrains)
    ) {
      lastLength = socket.writableLength;
      lastDrains = drains;
      timer?.refresh();
      return;
    }
    socket.destroy();
  };

  socket.once('close', finish);
  // Errors of a socket we are only closing (a reset while lingering) are not news for anyone.
  socket.on('error', ignore);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('finish', onFinish);
  if (Number.isFinite(timeout)) {
    lastLength = socket.writableLength;
    timer = setTimeout(onTimer, timeout);
    // The socket itself keeps the process alive while it has work; the timer must not.
    timer.unref();
  }
  socket.resume();
  if (socket.writableFinished && socket.readableEnded) {
    socket.destroy();
    return;
  }
  pump();

  // Sends what `more` yields as the socket drains, then the end.
  function pump(): void {
    if (more !== undefined && !socket.writableEnded) {
      drains++;
      for (;;) {
        let chunk: Buffer | null;
        try {
          chunk = more();
        } catch {
          chunk = null; // what it had produced went out; the rest cannot
        }
        if (chunk === null) break;
        if (chunk.length > 0 && !socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    }
    if (!socket.writableEnded) socket.end();
    else if (socket.writableFinished) onFinish();
  }
}
