// A fresh SocketMap per test for the specs that run the legacy loop: installs the beforeEach and
// afterEach hooks in the describe it is called in, and hands back the state the tests share.
import { SocketMap } from '../../src/legacy/index.js';

/** What a describe's tests share through {@link useSocketMap}. */
export interface SocketMapFixture {
  /** The current test's map: a new one before each test. */
  readonly map: SocketMap;
  /** The loop the test started (`fixture.running = loop({ map: fixture.map })`), if any. */
  running: Promise<void> | undefined;
  /** Run in order after each test (and then emptied), before the map is closed. */
  readonly cleanup: Array<() => void>;
}

/** A mocha hook registrar (`beforeEach`, `afterEach`). */
export type Hook = (fn: () => void | Promise<void>) => void;

/**
 * Installs, in the current describe, a `beforeEach` that makes a new SocketMap and clears
 * `running`, and an `afterEach` that runs the cleanups, closes every dispatcher in the map
 * (`map.closeAll()`) and awaits the loop. The hooks are mocha's unless others are passed (the
 * helper's own spec drives them by hand).
 *
 * @example
 * ```ts
 * describe('my dispatcher', () => {
 *   const fixture = useSocketMap();
 *   it('echoes', async () => {
 *     const [peer, end] = duplexPair();
 *     fixture.cleanup.push(() => peer.destroy());
 *     new Echo({ socket: end, map: fixture.map });
 *     fixture.running = loop({ map: fixture.map });
 *     // ...
 *   });
 * });
 * ```
 */
export function useSocketMap(
  hooks: { beforeEach: Hook; afterEach: Hook } = { beforeEach, afterEach },
): SocketMapFixture {
  let map: SocketMap | undefined;
  const fixture: SocketMapFixture = {
    get map(): SocketMap {
      if (map === undefined) throw new Error('useSocketMap(): no map outside a test');
      return map;
    },
    running: undefined,
    cleanup: [],
  };
  hooks.beforeEach(() => {
    map = new SocketMap();
    fixture.running = undefined;
  });
  hooks.afterEach(async () => {
    for (const fn of fixture.cleanup.splice(0)) fn();
    map?.closeAll();
    await fixture.running;
  });
  return fixture;
}
