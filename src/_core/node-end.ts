// Node's own 'end' listener on a net.Socket (internal).
//
// Node gives every socket one 'end' listener of its own (`onReadableStreamEnd`: a socket that does
// not allow half-open refuses writes once the peer's FIN came). A second listener turns the
// socket's one-function slot into an array: 64 bytes more per connection. A layer whose 'end'
// listener stays for the connection's life takes Node's over instead:
//
//   takeNodeEnd()     removes Node's listener, when it is the socket's only one
//   runNodeEnd()      Node's work, called first by the layer's listener (same work, same order)
//   restoreNodeEnd()  gives it back, first again, when the layer stops listening
import net from 'node:net';
import type { Duplex } from 'node:stream';

type EndListener = (this: Duplex) => void;

// Node's listener, known by the first socket that has it (one function for every socket).
let nodeEnd: EndListener | undefined;

/**
 * Removes Node's own 'end' listener from `socket` if it is its only one. True when it did: the
 * caller's 'end' listener must then call {@link runNodeEnd} first, and {@link restoreNodeEnd}
 * when it is removed.
 *
 * @example
 * ```ts
 * const took = takeNodeEnd(socket);
 * socket.on('end', function () { if (took) runNodeEnd(this); });
 * ```
 */
export function takeNodeEnd(socket: Duplex): boolean {
  if (!(socket instanceof net.Socket) || socket.listenerCount('end') !== 1) return false;
  const only = socket.listeners('end')[0] as EndListener;
  if (nodeEnd === undefined) {
    if (only.name !== 'onReadableStreamEnd') return false;
    nodeEnd = only;
  }
  if (only !== nodeEnd) return false;
  socket.removeListener('end', only);
  return true;
}

/** What Node's 'end' listener does, for a socket {@link takeNodeEnd} took it from. */
export function runNodeEnd(socket: Duplex): void {
  nodeEnd?.call(socket);
}

/** Gives a socket {@link takeNodeEnd} took it from its 'end' listener back, first again. */
export function restoreNodeEnd(socket: Duplex): void {
  if (nodeEnd !== undefined) socket.prependListener('end', nodeEnd);
}
