import { expect } from 'chai';
import { getEventListeners } from 'node:events';
import { Dispatcher, SocketMap, loop } from '../../src/legacy/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { activeResources } from '../helpers/leaks.js';

/** A connected dispatcher over an in-memory pair whose handlers count their calls. */
class Counting extends Dispatcher {
  reads = 0;
  received = 0;
  writes = 0;
  wantRead = true;
  wantWrite = true;
  closeAfterWrites = Infinity;
  override readable(): boolean {
    return this.wantRead;
  }
  override writable(): boolean {
    return this.wantWrite;
  }
  override handleRead(): void {
    this.reads++;
    this.received += this.recv(1024).length;
  }
  override handleWrite(): void {
    this.writes++;
    if (this.writes >= this.closeAfterWrites) this.close();
  }
  override logInfo(_message?: string): void {}
}

function pairDispatcher(map: SocketMap): {
  dispatcher: Counting;
  peer: ReturnType<typeof duplexPair>[0];
} {
  const [peer, socket] = duplexPair();
  return { dispatcher: new Counting({ socket, map }), peer };
}

describe('loop()', () => {
  let map: SocketMap;
  const peers: Array<ReturnType<typeof duplexPair>[0]> = [];
  beforeEach(() => {
    map = new SocketMap();
  });
  afterEach(() => {
    map.closeAll();
    for (const peer of peers.splice(0)) peer.destroy();
  });

  function make(): Counting {
    const { dispatcher, peer } = pairDispatcher(map);
    peers.push(peer);
    return dispatcher;
  }

  it('resolves at once when the map is empty', async () => {
    await loop({ map });
    expect(map.size).to.equal(0);
    expect(map.looping).to.equal(false);
  });

  it('returns after one round with count: 1', async () => {
    const dispatcher = make();
    await loop({ map, count: 1 });
    expect(dispatcher.writes).to.equal(1);
    await loop({ map, count: 3 });
    expect(dispatcher.writes).to.equal(4);
  });

  it('dispatches every ready dispatcher once per round', async () => {
    const a = make();
    const b = make();
    const idle = make();
    idle.wantWrite = false;
    await loop({ map, count: 2, timeout: 0 });
    expect([a.writes, b.writes, idle.writes, idle.reads]).to.deep.equal([2, 2, 0, 0]);
  });

  it('resolves when the map empties', async () => {
    const a = make();
    const b = make();
    a.closeAfterWrites = 3;
    b.closeAfterWrites = 5;
    await loop({ map });
    expect(map.size).to.equal(0);
    expect([a.writes, b.writes]).to.deep.equal([3, 5]);
  });

  it('counts a round that timed out with nothing ready', async () => {
    const dispatcher = make();
    dispatcher.wantWrite = false;
    await loop({ map, count: 2, timeout: 1 });
    expect([dispatcher.reads, dispatcher.writes]).to.deep.equal([0, 0]);
    expect(map.size).to.equal(1);
  });

  it('a round never outlasts timeout after a spurious wake-up', async () => {
    const dispatcher = make();
    dispatcher.wantWrite = false;
    // A wake that finds nothing ready, late in the round.
    const waking = setTimeout(() => map.wake(), 300);
    try {
      const started = performance.now();
      await loop({ map, count: 1, timeout: 400 });
      const took = performance.now() - started;
      expect(took).to.be.at.least(390);
      // Re-arming for a full timeout after the wake would make it ~700 ms.
      expect(took).to.be.below(600);
    } finally {
      clearTimeout(waking);
    }
    expect(map.size).to.equal(1);
  });

  it('a wake() that finds nothing ready leaves no timer behind: the round waits on its one timer', async () => {
    const dispatcher = make();
    dispatcher.wantWrite = false;
    const controller = new AbortController();
    const running = loop({ map, timeout: 10_000, signal: controller.signal });
    try {
      await new Promise((resolve) => setImmediate(resolve));
      const timers = activeResources().Timeout ?? 0;
      for (let i = 0; i < 5; i++) {
        map.wake();
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(dispatcher.reads + dispatcher.writes, 'nothing was ready').to.equal(0);
      expect(activeResources().Timeout ?? 0, 'timers after five spurious wakes').to.equal(timers);
    } finally {
      controller.abort();
      await running;
    }
  });

  it('calls handleRead only when data is buffered and readable() says yes', async () => {
    const [peer, socket] = duplexPair();
    peers.push(peer);
    const dispatcher = new Counting({ socket, map });
    dispatcher.wantWrite = false;
    dispatcher.wantRead = false;
    peer.write('hello');
    await loop({ map, count: 1, timeout: 5 });
    expect(dispatcher.reads).to.equal(0);
    dispatcher.wantRead = true;
    await loop({ map, count: 1 });
    expect(dispatcher.reads).to.equal(1);
    expect(dispatcher.received, 'the bytes waited, whole, for readable()').to.equal(5);
  });

  it('wakes up on new data instead of waiting for the timeout', async () => {
    const dispatcher = make();
    dispatcher.wantWrite = false;
    const done = loop({ map, count: 1, timeout: Infinity });
    (peers[0] as ReturnType<typeof duplexPair>[0]).write('x');
    await done;
    expect(dispatcher.reads).to.equal(1);
  });

  it('re-checks predicates after map.wake()', async () => {
    const [peer, socket] = duplexPair();
    peers.push(peer);
    const dispatcher = new Counting({ socket, map });
    dispatcher.wantWrite = false;
    dispatcher.wantRead = false;
    peer.write('queued');
    const done = loop({ map, count: 1, timeout: Infinity });
    setImmediate(() => {
      dispatcher.wantRead = true;
      map.wake();
    });
    await done;
    expect(dispatcher.reads).to.equal(1);
  });

  it('keeps the process responsive during the asyncore busy loop (writable() always true)', async () => {
    const dispatcher = make();
    // A timer can only fire if the loop yields to Node's event loop between rounds.
    const timer = setTimeout(() => dispatcher.close(), 5);
    try {
      await loop({ map });
    } finally {
      clearTimeout(timer);
    }
    expect(dispatcher.writes).to.be.greaterThan(1);
    expect(map.size).to.equal(0);
  });

  it('starts a round on a transport event late in a long event-loop phase, before the check phase', async () => {
    // A busy writer keeps the loop between rounds (waiting for its next setImmediate). Two timers
    // due together run in one timers phase: the first one, 2 ms into it (a long phase, as a poll
    // phase is with thousands of connections), gives the reader bytes; by the second one the
    // round has run, without waiting for the check phase.
    const busy = make();
    const [peer, socket] = duplexPair();
    peers.push(peer);
    const reader = new Counting({ socket, map });
    reader.wantWrite = false;
    let readsAtSecondTimer = -1;
    let immediateRan = false;
    setTimeout(() => {
      setImmediate(() => (immediateRan = true));
      const end = performance.now() + 2;
      while (performance.now() < end);
      peer.write('late');
    }, 5);
    setTimeout(() => {
      readsAtSecondTimer = immediateRan ? -2 : reader.reads;
      busy.close();
      reader.close();
    }, 5);
    await loop({ map });
    expect(readsAtSecondTimer, 'reads before the check phase').to.equal(1);
    expect(reader.received).to.equal(4);
    expect(busy.writes).to.be.greaterThan(1);
  });

  it('leaves what a round causes for the next turn: an in-memory ping-pong never starves timers', async () => {
    // Two dispatchers of one map echo each other over an in-memory pair: every round causes the
    // next one's event at once. The timer must still fire, between exchanges.
    class Echo extends Counting {
      override handleRead(): void {
        this.reads++;
        const data = this.recv(1024);
        this.received += data.length;
        // Bounded: a loop that starved timers ends here instead of hanging the test.
        if (this.reads > 20_000) this.close();
        else this.send(data);
      }
    }
    const [a, b] = duplexPair();
    const left = new Echo({ socket: a, map });
    const right = new Echo({ socket: b, map });
    left.wantWrite = right.wantWrite = false;
    left.send(Buffer.from('ping'));
    let exchangesAtTimer = -1;
    const timer = setTimeout(() => {
      exchangesAtTimer = left.reads + right.reads;
      map.closeAll();
    }, 20);
    try {
      await loop({ map });
    } finally {
      clearTimeout(timer);
    }
    expect(exchangesAtTimer, 'the ping-pong ran meanwhile').to.be.greaterThan(2);
    expect(map.size).to.equal(0);
  });

  it('resolves when the signal aborts, and removes its abort listener', async () => {
    const dispatcher = make();
    dispatcher.wantWrite = false;
    const controller = new AbortController();
    const done = loop({ map, signal: controller.signal });
    setImmediate(() => controller.abort());
    await done;
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
    expect(map.size).to.equal(1);
    expect(map.looping).to.equal(false);
  });

  it('returns at once for an already aborted signal', async () => {
    const dispatcher = make();
    await loop({ map, signal: AbortSignal.abort() });
    expect(dispatcher.writes).to.equal(0);
  });

  it('rejects a second concurrent loop on the same map, and the first goes on', async () => {
    const dispatcher = make();
    dispatcher.closeAfterWrites = 3;
    const first = loop({ map });
    let error: unknown;
    await loop({ map }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.equal(
      'Cannot start loop(): another loop is already running on this map',
    );
    await first;
    expect(dispatcher.writes).to.equal(3);
  });

  it('allows loops on different maps at the same time', async () => {
    const other = new SocketMap();
    const [peer, socket] = duplexPair();
    peers.push(peer);
    const b = new Counting({ socket, map: other });
    b.closeAfterWrites = 2;
    const a = make();
    a.closeAfterWrites = 2;
    await Promise.all([loop({ map }), loop({ map: other })]);
    expect([a.writes, b.writes]).to.deep.equal([2, 2]);
  });

  it('rejects bad options with RangeError', async () => {
    let error: unknown;
    await loop({ map, timeout: -1 }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(RangeError);
    expect((error as Error).message).to.equal(
      'Expected `timeout` to be a non-negative number, got `-1` (number)',
    );
    await loop({ map, count: 1.5 }).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.equal(
      'Expected `count` to be a non-negative integer, got `1.5` (number)',
    );
  });

  it('rejects a map that is not a SocketMap with a TypeError naming `map` (issue #11)', async () => {
    for (const [bad, shown] of [
      [{}, '`Object` (object)'],
      [[], '`Array` (object)'],
      ['map', '`map` (string)'],
      [42, '`42` (number)'],
    ] as const) {
      let error: unknown;
      await loop({ map: bad as unknown as SocketMap }).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(TypeError);
      expect((error as Error).message).to.equal(`Expected \`map\` to be a SocketMap, got ${shown}`);
    }
    expect(map.looping).to.equal(false);
  });

  it('closes a dispatcher whose handleError() itself throws, and goes on with the others', async () => {
    const logged: string[] = [];
    class Broken extends Counting {
      override handleWrite(): void {
        throw new Error('first');
      }
      override handleError(): void {
        throw new Error('second');
      }
      override logInfo(message: string): void {
        logged.push(message.split('\n')[0] ?? '');
      }
    }
    const [peer, socket] = duplexPair();
    peers.push(peer);
    const broken = new Broken({ socket, map });
    const good = make();
    good.closeAfterWrites = 3;
    await loop({ map });
    expect(broken.closed).to.equal(true);
    expect(logged).to.deep.equal(['Error in handleError(), closing: Error: second']);
    expect(good.writes).to.equal(3);
  });

  it('sends an exception thrown by a predicate to that dispatcher only', async () => {
    class BadPredicate extends Counting {
      errors: unknown[] = [];
      override writable(): boolean {
        throw new Error('predicate failed');
      }
      override handleError(error: unknown): void {
        this.errors.push(error);
        super.handleError(error);
      }
    }
    const [peer, socket] = duplexPair();
    peers.push(peer);
    const bad = new BadPredicate({ socket, map });
    const good = make();
    good.closeAfterWrites = 3;
    await loop({ map });
    expect(bad.errors).to.have.length(1);
    expect(bad.closed).to.equal(true);
    expect(good.writes).to.equal(3);
  });
});

describe('loop(): rounds cost O(ready), not O(map)', () => {
  it('one busy connection beside 500 idle ones asks the idle predicates rarely, and an idle one still wakes', async () => {
    const map = new SocketMap();
    let idleAsks = 0;
    // An idle connection's readable() is asked only once it has bytes: writable() is what a
    // pass over every dispatcher asks.
    class Idle extends Dispatcher {
      override writable(): boolean {
        idleAsks++;
        return false;
      }
      override handleRead(): void {
        this.recv(1024);
      }
    }
    class Echo extends Dispatcher {
      rounds = 0;
      override writable(): boolean {
        return false;
      }
      override handleRead(): void {
        const data = this.recv(1024);
        if (data.length > 0) {
          this.rounds++;
          this.send(data);
        }
      }
    }
    const idlePeers: import('node:stream').Duplex[] = [];
    for (let i = 0; i < 500; i++) {
      const [ours, theirs] = duplexPair();
      new Idle({ socket: ours, map });
      idlePeers.push(theirs);
    }
    const [ours, client] = duplexPair();
    const echo = new Echo({ socket: ours, map });
    const running = loop({ map, timeout: 1_000 });
    const messages = 2_000;
    let received = 0;
    const done = new Promise<void>((resolve) => {
      client.on('data', () => {
        received++;
        if (received === messages) resolve();
        else client.write('x');
      });
    });
    const started = performance.now();
    client.write('x');
    await done;
    const elapsed = performance.now() - started;
    // asyncore would have asked each idle dispatcher every round: 500 × 2,000 = 1,000,000 asks.
    // Here: the first pass, plus one pass per 10 ms of busy time.
    const passes = idleAsks / 500;
    expect(echo.rounds).to.equal(messages);
    expect(
      passes,
      `${passes} passes over the idle ones in ${elapsed.toFixed(0)} ms`,
    ).to.be.lessThan(Math.max(20, elapsed / 10 + 10));
    // An idle dispatcher that gets bytes is still served at once (its own event asks it).
    const before = idleAsks;
    idlePeers[0]!.write('hello');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(idleAsks).to.be.greaterThan(before);
    map.closeAll();
    for (const peer of idlePeers) peer.destroy();
    client.destroy();
    await running;
  });

  it("asks a readable() that depends on another dispatcher's state again while handlers run, long before the timeout", async () => {
    const map = new SocketMap();
    const gate = { open: false };
    let waitedMs = -1;
    const started = performance.now();
    // Bytes are buffered for the gated one from the start, but its readable() says no until the
    // other one's handler opens the gate: no event of its own will come (asyncore asked it
    // every round; ours within the sweep interval).
    class Gated extends Dispatcher {
      override readable(): boolean {
        return gate.open;
      }
      override writable(): boolean {
        return false;
      }
      override handleRead(): void {
        if (this.recv(1024).length > 0 && waitedMs < 0) waitedMs = performance.now() - started;
      }
    }
    class Opener extends Dispatcher {
      received = 0;
      override writable(): boolean {
        return false;
      }
      override handleRead(): void {
        this.received += this.recv(1024).length;
        if (this.received >= 3) gate.open = true;
      }
    }
    const [gatedOurs, gatedPeer] = duplexPair();
    const [openerOurs, openerPeer] = duplexPair();
    new Gated({ socket: gatedOurs, map });
    new Opener({ socket: openerOurs, map });
    gatedPeer.write('held back');
    const running = loop({ map, timeout: 10_000 });
    for (let i = 0; i < 3; i++) {
      openerPeer.write('x');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (let i = 0; i < 100 && waitedMs < 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(waitedMs, 'the gated dispatcher was never asked again').to.be.greaterThan(0);
    expect(waitedMs).to.be.lessThan(1_000);
    map.closeAll();
    gatedPeer.destroy();
    openerPeer.destroy();
    await running;
  });

  it('spaces its passes over every dispatcher by their own cost: slow predicates on a large map stay a small share of the time', async () => {
    const map = new SocketMap();
    let idleMs = 0;
    // Each idle predicate costs ~20 µs: one pass over 400 of them ~8 ms, about as long as the
    // 10 ms floor between passes, so a fixed interval would spend ~half the time in them.
    class SlowIdle extends Dispatcher {
      override writable(): boolean {
        const t0 = performance.now();
        while (performance.now() - t0 < 0.02);
        idleMs += performance.now() - t0;
        return false;
      }
    }
    class Echo extends Dispatcher {
      override writable(): boolean {
        return false;
      }
      override handleRead(): void {
        const data = this.recv(1024);
        if (data.length > 0) this.send(data);
      }
    }
    const idlePeers: import('node:stream').Duplex[] = [];
    for (let i = 0; i < 400; i++) {
      const [ours, theirs] = duplexPair();
      new SlowIdle({ socket: ours, map });
      idlePeers.push(theirs);
    }
    const [ours, client] = duplexPair();
    new Echo({ socket: ours, map });
    const running = loop({ map, timeout: 10_000 });
    const busyMs = 1_500;
    const started = performance.now();
    let idleAtStart = -1;
    await new Promise<void>((resolve) => {
      client.on('data', () => {
        const now = performance.now();
        // The first pass (a new loop asks everyone) is not a sweep: count from the first reply.
        if (idleAtStart < 0) idleAtStart = idleMs;
        if (now - started >= busyMs) resolve();
        else client.write('x');
      });
      client.write('x');
    });
    const elapsed = performance.now() - started;
    const share = (idleMs - idleAtStart) / elapsed;
    expect(share, `${(share * 100).toFixed(1)}% of ${elapsed.toFixed(0)} ms`).to.be.lessThan(0.15);
    map.closeAll();
    for (const peer of idlePeers) peer.destroy();
    client.destroy();
    await running;
  });
});
