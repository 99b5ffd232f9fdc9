/**
 * Step 2, checked on live traffic before you trust it: `startMixedServer()` answers every client
 * with one implementation (the primary, `modern` by default) and runs the other one as a shadow
 * on a copy of the same input, comparing the two outputs byte for byte. Only the primary's output
 * reaches the client; a difference is reported (`'divergence'`), it never breaks a connection.
 *
 * The shadow has its OWN store: a shadow that wrote to the primary's data would apply every `SET`
 * and `INCR` twice. So compare connections whose keys are their own (a session, a tenant); a
 * `KEYS` or `DUMP` over keys that other clients change at the same time can differ for that
 * reason alone.
 *
 * @module
 */
import process from 'node:process';
import {
  startMixedServer,
  type DivergenceReport,
  type Implementation,
  type ShadowDropReport,
} from 'dispatch-bridge/adapter';
import { runIfMain, tcpAddress } from '../pairs/_run.js';
import { MAX_LINE, Store, newStats, type KvOptions, type RunningKv } from './_kv.js';
import { kvChannelClass } from './kv-legacy.js';
import { kvHandler } from './kv-modern.js';

/** Options of {@link start}. */
export interface ShadowKvOptions extends KvOptions {
  /** The implementation whose replies the clients get (default `'modern'`). */
  primary?: Implementation | undefined;
  /** The stores of the two implementations (default: a fresh one each). */
  stores?: { legacy?: Store | undefined; modern?: Store | undefined } | undefined;
  /** Where divergences and errors are reported (default: standard error). */
  log?: ((line: string) => void) | undefined;
}

/** A running shadow check: the step's server, plus what the comparison found. */
export interface RunningShadowKv extends RunningKv {
  readonly divergences: DivergenceReport[];
  readonly dropped: ShadowDropReport[];
  /** True when no shadow is still running (every comparison is complete). */
  settled(): boolean;
}

/**
 * Start step 2 in shadow mode on 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = await start({ primary: 'modern' });
 * // ... traffic ...
 * console.log(server.divergences); // [] when both implementations answered the same
 * await server.close();
 * ```
 */
export async function start(options: ShadowKvOptions = {}): Promise<RunningShadowKv> {
  const stats = newStats();
  const divergences: DivergenceReport[] = [];
  const dropped: ShadowDropReport[] = [];
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = await startMixedServer({
    legacy: kvChannelClass(options.stores?.legacy ?? new Store(), stats),
    modern: kvHandler(options.stores?.modern ?? new Store(), stats),
    route: options.primary ?? 'modern',
    shadow: { maxBuffered: 1024 * 1024, grace: 2_000 },
    host: '127.0.0.1',
    port: options.port ?? 0,
    limit: MAX_LINE,
    onError: (error) => {
      stats.errors.push(error);
      log(`kv: ${String(error)}`);
    },
  });
  server.on('divergence', (report) => {
    divergences.push(report);
    log(
      `kv: connection ${report.id} diverges at byte ${report.offset}: ` +
        `${report.primaryImplementation} sent ${JSON.stringify(report.primary.toString())}, ` +
        `the shadow ${JSON.stringify(report.shadow.toString())}`,
    );
  });
  server.on('shadowDropped', (report) => dropped.push(report));
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    stats: () => stats,
    divergences,
    dropped,
    settled: () => server.connections === 0 && server.lingeringShadows === 0,
    async close() {
      await server.shutdown({ timeout: 0 });
    },
  };
}

runIfMain(import.meta.url, start, 'commands: SET k v, GET k, DEL k, INCR k, KEYS, DUMP, QUIT');
