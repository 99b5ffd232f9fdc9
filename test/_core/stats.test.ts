import { expect } from 'chai';
import { StatsCounter, type Counted } from '../../src/_core/stats.js';

describe('StatsCounter', () => {
  // The owner keeps the open sockets (as a server does); the counter reads them at snapshot time.
  function counterWithOwner(): { stats: StatsCounter; open: Set<Counted> } {
    const open = new Set<Counted>();
    return { stats: new StatsCounter(() => open), open };
  }

  it("adds the open sockets' bytes as they are when the snapshot is taken", () => {
    const { stats, open } = counterWithOwner();
    const socket: Counted = { bytesRead: 10, bytesWritten: 4 };
    open.add(socket);
    stats.opened();
    socket.bytesRead = 25;
    expect(stats.snapshot()).to.include({
      accepted: 1,
      active: 1,
      closed: 0,
      bytesIn: 25,
      bytesOut: 4,
    });
  });

  it("keeps a closed socket's bytes once, whatever the socket says later", () => {
    const { stats, open } = counterWithOwner();
    const a: Counted = { bytesRead: 7, bytesWritten: 3 };
    const b: Counted = { bytesRead: 100, bytesWritten: 50 };
    open.add(a).add(b);
    stats.opened();
    stats.opened();
    open.delete(a);
    stats.closedSocket(a);
    a.bytesRead = 1_000;
    expect(stats.snapshot()).to.include({
      accepted: 2,
      active: 1,
      closed: 1,
      bytesIn: 107,
      bytesOut: 53,
    });
  });

  it('counts a Duplex without byte counters as zero bytes', () => {
    const { stats, open } = counterWithOwner();
    open.add({});
    stats.opened();
    expect(stats.snapshot()).to.include({ active: 1, bytesIn: 0, bytesOut: 0 });
    open.clear();
    stats.closedSocket({});
    expect(stats.snapshot()).to.include({ active: 0, closed: 1, bytesIn: 0, bytesOut: 0 });
  });
});
