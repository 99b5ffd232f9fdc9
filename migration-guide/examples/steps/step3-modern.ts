/**
 * Step 3: all modern. `startServer()` with the async handler of `kv-modern.ts`; `kv-legacy.ts`
 * and the adapter are no longer imported.
 *
 * @module
 */
import process from 'node:process';
import { startServer } from 'dispatch-bridge/modern';
import { runIfMain, tcpAddress } from '../pairs/_run.js';
import { MAX_LINE, Store, newStats, type KvOptions, type RunningKv } from './_kv.js';
import { kvHandler } from './kv-modern.js';

/**
 * Start step 3 on 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = await start();
 * await server.close();
 * ```
 */
export async function start(options: KvOptions = {}): Promise<RunningKv> {
  const stats = newStats();
  const server = await startServer(kvHandler(new Store(), stats), {
    host: '127.0.0.1',
    port: options.port ?? 0,
    limit: MAX_LINE,
    onError: (error) => {
      stats.errors.push(error);
      process.stderr.write(`kv: ${String(error)}\n`);
    },
  });
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    stats: () => stats,
    async close() {
      await server.shutdown({ timeout: 0 });
    },
  };
}

runIfMain(import.meta.url, start, 'commands: SET k v, GET k, DEL k, INCR k, KEYS, DUMP, QUIT');
