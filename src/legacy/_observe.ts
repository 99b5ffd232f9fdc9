// What a legacy connection tells the observability core (internal): its open and close, counted
// in its map's stats() and published on the channels and in the debug log.
import type { Duplex } from 'node:stream';
import { peerAddress } from '../_core/address.js';
import { channels, isObserved, publish } from '../_core/observe.js';
import type { Counted, StatsCounter } from '../_core/stats.js';

// Connection ids of the legacy layer, for the debug log and the channels (from 1).
let nextId = 0;

/** A connection joined a map; returns its id. */
export function connectionOpened(stats: StatsCounter, socket: Duplex, dispatcher: string): number {
  const id = ++nextId;
  stats.opened();
  // The message (and the peer's address) only when someone will see it.
  if (!isObserved(channels.open)) return id;
  publish(channels.open, 'open', {
    id,
    layer: 'legacy',
    dispatcher,
    remoteAddress: peerAddress(socket),
  });
  return id;
}

/** Its socket was released. */
export function connectionClosed(stats: StatsCounter, socket: Duplex, id: number): void {
  const counted = socket as Counted;
  stats.closedSocket(counted);
  if (!isObserved(channels.close)) return;
  publish(channels.close, 'close', {
    id,
    layer: 'legacy',
    bytesIn: counted.bytesRead,
    bytesOut: counted.bytesWritten,
  });
}
