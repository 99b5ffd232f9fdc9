/**
 * The first step, continued: once the shadow's divergence log stays empty, a canary. A share of
 * the connections (deterministic: every tenth at 0.1) is served by the TypeScript port, in this
 * process; the rest are still proxied to the Python server. Raise the share as confidence grows;
 * at 1 the Python server serves nobody and can be retired, and step 0 is what runs.
 *
 * ```sh
 * python3 -W ignore::DeprecationWarning migration-guide/python/kv_asyncore.py --port 8000 &
 * node --import ./scripts/ts-register.mjs migration-guide/examples/steps/python-canary.ts 8000
 * ```
 *
 * Both implementations must serve the same data. Here each keeps its own (Python's dict, the
 * port's `Store`): fine for connections whose keys are their own (sessions, tenants), not for a
 * store every client shares. Before a canary of such a server, move the data where both reach it
 * (a database), or canary by tenant with an address or sniff rule.
 *
 * @module
 */
import process from 'node:process';
import { startMixedServer } from 'dispatch-bridge/adapter';
import { runIfMain, tcpAddress } from '../pairs/_run.js';
import { MAX_LINE, Store, canary, newStats } from './_kv.js';
import {
  implementations,
  type PythonFrontOptions,
  type RunningPythonFront,
} from './python-shadow.js';

/** Options of {@link start}. */
export interface PythonCanaryOptions extends PythonFrontOptions {
  /** The share of connections the TypeScript port serves, 0 to 1 (default 0.1). */
  share?: number | undefined;
}

/**
 * Start the canary on 127.0.0.1: a `share` of the connections to the TypeScript port, the rest
 * to the Python server at `options.upstream`.
 *
 * @example
 * ```ts
 * const server = await start({ upstream: { host: '127.0.0.1', port: 8000 }, share: 0.1 });
 * console.log(server.routed()); // { python: 9, typescript: 1 } after ten connections
 * await server.close();
 * ```
 */
export async function start(options: PythonCanaryOptions): Promise<RunningPythonFront> {
  const stats = newStats();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { legacy, modern, python, typescript } = implementations(
    options,
    options.store ?? new Store(),
    stats,
  );
  const toTypescript = canary(options.share ?? 0.1);
  const server = await startMixedServer({
    legacy,
    modern,
    route: () => (toTypescript() ? typescript : python),
    host: '127.0.0.1',
    port: options.port ?? 0,
    limit: MAX_LINE,
    onError: (error, info) => {
      stats.errors.push(error);
      log(`kv: ${info.role} of connection ${info.id}: ${String(error)}`);
    },
  });
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    stats: () => stats,
    divergences: [],
    dropped: [],
    routed() {
      const { legacy: l, modern: m } = server.stats();
      return python === 'legacy'
        ? { python: l.routed, typescript: m.routed }
        : { python: m.routed, typescript: l.routed };
    },
    settled: () => server.connections === 0,
    async close() {
      await server.shutdown({ timeout: 0 });
    },
  };
}

runIfMain(
  import.meta.url,
  () =>
    start({
      upstream: { host: '127.0.0.1', port: Number(process.argv[2] ?? 8000) },
      share: Number(process.argv[3] ?? 0.1),
    }),
  'a share of the connections served by the TypeScript port, the rest by the Python server',
);
