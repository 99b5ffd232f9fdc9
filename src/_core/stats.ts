// The counters every server keeps (internal; `stats()` returns a snapshot of them).

/** A snapshot of a server's counters (see `Server.stats()`). */
export interface ConnectionStats {
  /** Connections accepted and handed to a handler. */
  accepted: number;
  /** Connections open now (handler running, or closing). */
  active: number;
  /** Connections that have closed. */
  closed: number;
  /** Connections refused: over `maxConnections`, or no `concurrency` slot within `queueTimeout`. */
  refused: number;
  /** Bytes received from peers (closed connections and open ones). */
  bytesIn: number;
  /** Bytes sent to peers. */
  bytesOut: number;
  /** Handler errors reported (disconnects are not errors). */
  handlerErrors: number;
}

/** What a snapshot reads of a socket (a Duplex that is no net.Socket has neither). */
export interface Counted {
  bytesRead?: number;
  bytesWritten?: number;
}

/**
 * Mutable counters. The sockets still open, whose bytes are added at snapshot time, are the
 * owner's (`openSockets`): a server keeps them already, and a second Set here cost every
 * connection a hash-table entry (DESIGN's bytes per idle connection).
 */
export class StatsCounter {
  accepted = 0;
  closed = 0;
  refused = 0;
  handlerErrors = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #openSockets: () => Iterable<Counted>;

  /** `openSockets`: the sockets still open, as the owner keeps them (their count is `active`). */
  constructor(openSockets: () => Iterable<Counted>) {
    this.#openSockets = openSockets;
  }

  /** A connection was accepted. */
  opened(): void {
    this.accepted++;
  }

  /** Its socket closed (the owner calls it once, as it drops the socket from `openSockets`). */
  closedSocket(socket: Counted): void {
    this.closed++;
    this.#bytesIn += socket.bytesRead ?? 0;
    this.#bytesOut += socket.bytesWritten ?? 0;
  }

  snapshot(): ConnectionStats {
    let bytesIn = this.#bytesIn;
    let bytesOut = this.#bytesOut;
    let active = 0;
    for (const socket of this.#openSockets()) {
      active++;
      bytesIn += socket.bytesRead ?? 0;
      bytesOut += socket.bytesWritten ?? 0;
    }
    return {
      accepted: this.accepted,
      active,
      closed: this.closed,
      refused: this.refused,
      bytesIn,
      bytesOut,
      handlerErrors: this.handlerErrors,
    };
  }
}
