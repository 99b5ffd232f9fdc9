/**
 * Step 1: the legacy server hosts its first async handler. The listener, the map and the loop
 * are step 0's; only `handleAccepted()` changed: a share of the connections (`modern`, a
 * deterministic canary) is served by the async handler of `kv-modern.ts`, turned into a
 * dispatcher class by `asDispatcherClass()`; the others by the legacy `KvChannel`, as before.
 * Both share the store: one process, one event loop, no locks.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { asDispatcherClass } from 'dispatch-bridge/adapter';
import { Dispatcher, SocketMap, loop } from 'dispatch-bridge/legacy';
import { runIfMain, tcpAddress } from '../pairs/_run.js';
import { MAX_LINE, Store, canary, newStats, type KvOptions, type RunningKv } from './_kv.js';
import { kvChannelClass } from './kv-legacy.js';
import { kvHandler } from './kv-modern.js';

/**
 * Start step 1 on 127.0.0.1; `modern` (default 0.1) is the share of connections served by the
 * async handler.
 *
 * @example
 * ```ts
 * const server = await start({ modern: 0.5 });
 * await server.close();
 * ```
 */
export async function start(options: KvOptions = {}): Promise<RunningKv> {
  const store = new Store();
  const stats = newStats();
  const KvChannel = kvChannelClass(store, stats);
  // The async handler, as a Dispatcher class; `limit` bounds what its reader holds for a line.
  const ModernKvChannel = class extends asDispatcherClass(kvHandler(store, stats), {
    limit: MAX_LINE,
  }) {
    override handleError(error: unknown): void {
      stats.errors.push(error);
      super.handleError(error); // logs it, then closes this connection only
    }
  };
  const useModern = canary(options.modern ?? 0.1);

  class KvListener extends Dispatcher {
    override handleAccepted(socket: Duplex): void {
      if (useModern()) new ModernKvChannel({ socket, map: this.map });
      else new KvChannel({ socket, map: this.map });
    }
  }

  const map = new SocketMap();
  const listener = new KvListener({ map });
  listener.bind({ host: '127.0.0.1', port: options.port ?? 0 });
  await listener.listen();
  const done = loop({ map });
  const address = tcpAddress(listener.address());
  return {
    address,
    port: address.port,
    connections: () => map.size - 1,
    stats: () => stats,
    async close() {
      map.closeAll();
      await done;
    },
  };
}

runIfMain(import.meta.url, start, 'commands: SET k v, GET k, DEL k, INCR k, KEYS, DUMP, QUIT');
