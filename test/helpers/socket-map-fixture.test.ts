import { expect } from 'chai';
import { Dispatcher, SocketMap, loop } from '../../src/legacy/index.js';
import { duplexPair } from './duplex-pair.js';
import { useSocketMap, type Hook } from './socket-map-fixture.js';

class Quiet extends Dispatcher {
  override logInfo(): void {}
}

/** Hooks captured instead of registered with mocha, to be run by hand. */
function captured(): {
  hooks: { beforeEach: Hook; afterEach: Hook };
  before: () => void | Promise<void>;
  after: () => void | Promise<void>;
} {
  let before: (() => void | Promise<void>) | undefined;
  let after: (() => void | Promise<void>) | undefined;
  return {
    hooks: { beforeEach: (fn) => (before = fn), afterEach: (fn) => (after = fn) },
    before: () => before!(),
    after: () => after!(),
  };
}

describe('useSocketMap() (test helper)', () => {
  it('makes a new, empty SocketMap and clears `running` before each test', async () => {
    const { hooks, before, after } = captured();
    const fixture = useSocketMap(hooks);
    expect(() => fixture.map).to.throw('useSocketMap(): no map outside a test');
    await before();
    const first = fixture.map;
    expect(first).to.be.instanceOf(SocketMap);
    expect(first.size).to.equal(0);
    fixture.running = Promise.resolve();
    await after();
    await before();
    expect(fixture.map).to.not.equal(first);
    expect(fixture.running).to.equal(undefined);
  });

  it('after each test: runs the cleanups in order once, then closes the map, then awaits the loop', async () => {
    const { hooks, before, after } = captured();
    const fixture = useSocketMap(hooks);
    await before();
    const [peer, end] = duplexPair();
    const dispatcher = new Quiet({ socket: end, map: fixture.map });
    const order: string[] = [];
    fixture.cleanup.push(() => order.push(`first, map size ${fixture.map.size}`));
    fixture.cleanup.push(() => order.push('second'));
    fixture.running = loop({ map: fixture.map }).then(() => void order.push('loop ended'));
    expect(fixture.map.looping).to.equal(true);
    const map = fixture.map;
    await after();
    expect(order).to.deep.equal(['first, map size 1', 'second', 'loop ended']);
    expect(dispatcher.closed).to.equal(true);
    expect(map.size).to.equal(0);
    expect(map.looping).to.equal(false);
    expect(fixture.cleanup).to.deep.equal([]);
    peer.destroy();
    // The cleanups ran once: the next test's afterEach does not run them again.
    await before();
    await after();
    expect(order).to.have.length(3);
  });

  it('after each test: does not settle before the loop does', async () => {
    const { hooks, before, after } = captured();
    const fixture = useSocketMap(hooks);
    await before();
    let endLoop!: () => void;
    fixture.running = new Promise<void>((resolve) => (endLoop = resolve));
    let settled = false;
    const done = Promise.resolve(after()).then(() => (settled = true));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).to.equal(false);
    endLoop();
    await done;
    expect(settled).to.equal(true);
  });

  describe("with mocha's own hooks (these two run in order)", () => {
    const fixture = useSocketMap();
    let previous: { map: SocketMap; dispatcher: Dispatcher; cleaned: boolean } | undefined;

    it('a first test leaves a dispatcher, a running loop and a cleanup behind', () => {
      const [peer, end] = duplexPair();
      const record = {
        map: fixture.map,
        dispatcher: new Quiet({ socket: end, map: fixture.map }),
        cleaned: false,
      };
      fixture.cleanup.push(() => {
        record.cleaned = true;
        peer.destroy();
      });
      fixture.running = loop({ map: fixture.map });
      previous = record;
      expect(fixture.map.looping).to.equal(true);
    });

    it('the next test finds them cleaned up, closed and ended, and has a new map', () => {
      expect(previous, 'the first test ran').to.not.equal(undefined);
      expect(previous!.cleaned).to.equal(true);
      expect(previous!.dispatcher.closed).to.equal(true);
      expect(previous!.map.size).to.equal(0);
      expect(previous!.map.looping).to.equal(false);
      expect(fixture.map).to.not.equal(previous!.map);
      expect(fixture.map.size).to.equal(0);
      expect(fixture.running).to.equal(undefined);
    });
  });
});
