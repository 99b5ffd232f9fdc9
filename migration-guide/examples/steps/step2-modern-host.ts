/**
 * Step 2: a modern server hosts the remaining legacy handlers. `startServer()` accepts now; each
 * connection goes to the async handler, or (a share, `1 - modern`) to the unchanged legacy
 * `KvChannel`, wrapped by `asStreamHandler()`, whose loop runs inside the adapter. The legacy
 * listener and the top-level `loop()` are gone.
 *
 * @module
 */
import process from 'node:process';
import { asStreamHandler } from 'dispatch-bridge/adapter';
import { startServer, type StreamHandler } from 'dispatch-bridge/modern';
import { runIfMain, tcpAddress } from '../pairs/_run.js';
import { MAX_LINE, Store, canary, newStats, type KvOptions, type RunningKv } from './_kv.js';
import { kvChannelClass } from './kv-legacy.js';
import { kvHandler } from './kv-modern.js';

/**
 * Start step 2 on 127.0.0.1; `modern` (default 0.9) is the share of connections served by the
 * async handler, the rest by the legacy class.
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
  const modern = kvHandler(store, stats);
  const legacy = asStreamHandler(kvChannelClass(store, stats));
  const useModern = canary(options.modern ?? 0.9);
  const route: StreamHandler = (reader, writer, context) =>
    useModern() ? modern(reader, writer, context) : legacy(reader, writer, context);

  const server = await startServer(route, {
    host: '127.0.0.1',
    port: options.port ?? 0,
    limit: MAX_LINE,
    // A handler that throws closes its own connection and lands here (never a crash).
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
