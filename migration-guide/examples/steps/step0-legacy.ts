/**
 * Step 0 of the migration: the key-value server as it was, all legacy. A listening `Dispatcher`
 * accepts; each connection is a `KvChannel` (`AsyncChat`); one `loop()` drives them all.
 *
 * ```sh
 * node --import ./scripts/ts-register.mjs migration-guide/examples/steps/step0-legacy.ts
 * ```
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { Dispatcher, SocketMap, loop } from 'dispatch-bridge/legacy';
import { runIfMain, tcpAddress } from '../pairs/_run.js';
import { Store, newStats, type KvOptions, type RunningKv } from './_kv.js';
import { kvChannelClass } from './kv-legacy.js';

/**
 * Start step 0 on 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = await start();
 * await server.close();
 * ```
 */
export async function start(options: KvOptions = {}): Promise<RunningKv> {
  const store = new Store();
  const stats = newStats();
  const KvChannel = kvChannelClass(store, stats);

  class KvListener extends Dispatcher {
    override handleAccepted(socket: Duplex): void {
      new KvChannel({ socket, map: this.map });
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
    connections: () => map.size - 1, // every dispatcher but the listener
    stats: () => stats,
    async close() {
      map.closeAll();
      await done;
    },
  };
}

runIfMain(import.meta.url, start, 'commands: SET k v, GET k, DEL k, INCR k, KEYS, DUMP, QUIT');
