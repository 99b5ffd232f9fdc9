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

interface Counted {
  bytesRead?: number;
  bytesWritten?: number;
}

/** Mutable counters plus the sockets still open, whose bytes are added at snapshot time. */
export class StatsCounter {
  accepted = 0;
  closed = 0;
  refused = 0;
  handlerErrors = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #open = new Set<Counted>();

  /** A connection was accepted on `socket`. */
  opened(socket: Counted): void {
    this.accepted++;
    this.#open.add(socket);
  }

  /** Its socket closed. */
  closedSocket(socket: Counted): void {
    if (!this.#open.delete(socket)) return;
    this.closed++;
    this.#bytesIn += socket.bytesRead ?? 0;
    this.#bytesOut += socket.bytesWritten ?? 0;
  }

  snapshot(): ConnectionStats {
    let bytesIn = this.#bytesIn;
    let bytesOut = this.#bytesOut;
    for (const socket of this.#open) {
      bytesIn += socket.bytesRead ?? 0;
      bytesOut += socket.bytesWritten ?? 0;
    }
    return {
      accepted: this.accepted,
      active: this.#open.size,
      closed: this.closed,
      refused: this.refused,
      bytesIn,
      bytesOut,
      handlerErrors: this.handlerErrors,
    };
  }
}
