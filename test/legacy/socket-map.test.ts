import { expect } from 'chai';
import { Dispatcher, SocketMap, closeAll, loop, socketMap } from '../../src/legacy/index.js';
import type { Duplex } from 'node:stream';
import { duplexPair } from '../helpers/duplex-pair.js';
import { kAfterRound, kRoundEnd } from '../../src/legacy/_internal.js';

class Quiet extends Dispatcher {
  override writable(): boolean {
    return false;
  }
  override logInfo(): void {}
}

describe('SocketMap', () => {
  it('holds a dispatcher from the moment it has a transport until close()', () => {
    const map = new SocketMap();
    const [peer, socket] = duplexPair();
    const unbound = new Quiet({ map });
    expect(map.size).to.equal(0);
    const connected = new Quiet({ socket, map });
    expect(map.size).to.equal(1);
    expect([...map]).to.deep.equal([connected]);
    unbound.createSocket();
    expect(map.has(unbound)).to.equal(true);
    connected.close();
    unbound.close();
    expect(map.size).to.equal(0);
    peer.destroy();
  });

  it('closeAll() closes every dispatcher (handleClose once each), and ends the loop', async () => {
    const map = new SocketMap();
    const peers = [duplexPair(), duplexPair()];
    let handled = 0;
    class Counting extends Quiet {
      override handleClose(): void {
        handled++;
        super.handleClose();
      }
    }
    const dispatchers = peers.map(([, socket]) => new Counting({ socket, map }));
    const done = loop({ map, timeout: Infinity });
    setImmediate(() => closeAll(map));
    await done;
    expect(dispatchers.every((d) => d.closed)).to.equal(true);
    expect(handled).to.equal(2);
    expect(map.size).to.equal(0);
    for (const [peer] of peers) peer.destroy();
  });

  it('the default socketMap is used when no map is given', () => {
    const [peer, socket] = duplexPair();
    const dispatcher = new Quiet({ socket });
    expect(dispatcher.map).to.equal(socketMap);
    expect(socketMap.has(dispatcher)).to.equal(true);
    closeAll();
    expect(socketMap.size).to.equal(0);
    peer.destroy();
  });

  it('closeAll() also closes a dispatcher that handleClose() creates (reconnect on close)', async () => {
    const map = new SocketMap();
    const peers: Duplex[] = [];
    const created: Quiet[] = [];
    class Reconnecting extends Quiet {
      override handleClose(): void {
        super.handleClose();
        // Reconnect, at most twice, as a client whose server went away would.
        if (created.length < 3) {
          const [peer, socket] = duplexPair();
          peers.push(peer);
          created.push(new Reconnecting({ socket, map }));
        }
      }
    }
    const [peer, socket] = duplexPair();
    peers.push(peer);
    created.push(new Reconnecting({ socket, map }));
    closeAll(map);
    expect(created).to.have.length(3);
    expect(created.map((d) => d.closed)).to.deep.equal([true, true, true]);
    expect(map.size).to.equal(0);
    await loop({ map });
    for (const end of peers) end.destroy();
  });

  it('closeAll() gives up after a bound on a handleClose() that always reconnects, leaving it open in the map', () => {
    const map = new SocketMap();
    const peers: Duplex[] = [];
    let created = 0;
    class Runaway extends Quiet {
      override handleClose(): void {
        super.handleClose();
        const [peer, socket] = duplexPair();
        peers.push(peer);
        created++;
        new Runaway({ socket, map });
      }
    }
    const [peer, socket] = duplexPair();
    peers.push(peer);
    new Runaway({ socket, map });
    closeAll(map);
    expect(created).to.equal(100);
    expect(map.size).to.equal(1);
    const [left] = [...map];
    expect(left?.closed).to.equal(false);
    // The leftover is still a working dispatcher: it closes normally (and reconnects once more).
    (left as Quiet).handleClose = (): void => {};
    (left as Quiet).close();
    expect(map.size).to.equal(0);
    for (const end of peers) end.destroy();
  });

  it("runs the end-of-round steps a round's handlers queued once they all ran, and one that throws goes to its dispatcher's handleError() only", async () => {
    const map = new SocketMap();
    const order: string[] = [];
    const errors: unknown[] = [];
    class Stepping extends Quiet {
      constructor(
        socket: Duplex,
        readonly name: string,
        readonly fails: boolean,
      ) {
        super({ socket, map });
      }
      override handleRead(): void {
        if (this.recv(64).length === 0) return;
        order.push(`read ${this.name}`);
        this.map[kAfterRound](this);
      }
      override [kRoundEnd](): void {
        order.push(`end ${this.name}`);
        if (this.fails) throw new Error(`${this.name} failed`);
      }
      override handleError(error: unknown): void {
        errors.push(error);
      }
    }
    const [peerA, a] = duplexPair();
    const [peerB, b] = duplexPair();
    const first = new Stepping(a, 'a', true);
    const second = new Stepping(b, 'b', false);
    peerA.write('x');
    peerB.write('y');
    await new Promise((resolve) => setImmediate(resolve));
    await loop({ map, count: 1, timeout: 100 });
    expect(order).to.deep.equal(['read a', 'read b', 'end a', 'end b']);
    expect(errors.map((error) => (error as Error).message)).to.deep.equal(['a failed']);
    // Outside a round, the step runs at the end of the tick.
    first.map[kAfterRound](second);
    expect(order).to.have.length(4);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(order.at(-1)).to.equal('end b');
    map.closeAll();
    peerA.destroy();
    peerB.destroy();
  });
});
