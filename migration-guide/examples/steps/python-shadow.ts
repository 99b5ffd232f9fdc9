/**
 * The first step, before any TypeScript serves a client: the mixed server goes in front of the
 * server that runs today (the Python original, `migration-guide/python/kv_asyncore.py`), as a
 * transparent proxy (`upstream()` as the primary). The TypeScript port runs as a shadow: it gets
 * a copy of every client's input, its output is compared byte for byte with Python's, and each
 * first difference on a connection is reported. Only Python's replies reach the clients.
 *
 * ```sh
 * python3 -W ignore::DeprecationWarning migration-guide/python/kv_asyncore.py --port 8000 &
 * node --import ./scripts/ts-register.mjs migration-guide/examples/steps/python-shadow.ts 8000
 * ```
 *
 * The shadow has its own store (the Python process keeps its data to itself), so compare
 * connections whose keys are their own, as in step 2's shadow mode.
 *
 * @module
 */
import process from 'node:process';
import {
  startMixedServer,
  upstream,
  type DivergenceReport,
  type Implementation,
  type LegacyHandlerClass,
  type ShadowDropReport,
  type Upstream,
} from 'dispatch-bridge/adapter';
import type { StreamHandler } from 'dispatch-bridge/modern';
import { runIfMain, tcpAddress } from '../pairs/_run.js';
import { MAX_LINE, Store, newStats, type KvOptions, type KvStats, type RunningKv } from './_kv.js';
import { kvChannelClass } from './kv-legacy.js';
import { kvHandler } from './kv-modern.js';

/** Options of the first step's servers ({@link start} and the canary's). */
export interface PythonFrontOptions extends KvOptions {
  /** Where the running Python server listens. */
  upstream: { host: string; port: number };
  /**
   * Which TypeScript port runs next to Python: `'legacy'` (the default: `KvChannel`, the
   * line-by-line port of the asynchat class, which step 0 deploys) or `'modern'` (`kvHandler`).
   */
  typescript?: Implementation | undefined;
  /** The TypeScript port's store (default: a fresh one). */
  store?: Store | undefined;
  /** Where divergences and errors are reported (default: standard error). */
  log?: ((line: string) => void) | undefined;
}

/** A running first step: the proxy, plus what the comparison found. */
export interface RunningPythonFront extends RunningKv {
  readonly divergences: DivergenceReport[];
  readonly dropped: ShadowDropReport[];
  /** Connections the Python server answered, and the TypeScript port (as primary). */
  routed(): { python: number; typescript: number };
  /** True when no connection or shadow is still running (every comparison is complete). */
  settled(): boolean;
}

/** The two implementations of the mixed server: the TypeScript port and the Python upstream. */
export interface Implementations {
  /** `startMixedServer`'s `legacy`: the port's class, or the Python upstream. */
  legacy: LegacyHandlerClass | Upstream;
  /** `startMixedServer`'s `modern`: the port's handler, or the Python upstream. */
  modern: StreamHandler | Upstream;
  /** The slot of the Python upstream. */
  python: Implementation;
  /** The slot of the TypeScript port (the other one). */
  typescript: Implementation;
}

/**
 * The TypeScript port in its slot (a class goes in `legacy`, a handler in `modern`) and the
 * Python server, as an upstream, in the other.
 *
 * @example
 * ```ts
 * const { legacy, modern, python } = implementations({ upstream: { host: '127.0.0.1', port: 8000 } }, store, stats);
 * ```
 */
export function implementations(
  options: PythonFrontOptions,
  store: Store,
  stats: KvStats,
): Implementations {
  const python = upstream(options.upstream, { name: 'python' });
  if ((options.typescript ?? 'legacy') === 'legacy') {
    return {
      legacy: kvChannelClass(store, stats),
      modern: python,
      python: 'modern',
      typescript: 'legacy',
    };
  }
  return {
    legacy: python,
    modern: kvHandler(store, stats),
    python: 'legacy',
    typescript: 'modern',
  };
}

/**
 * One divergence as a line a person can act on: the offset, both sides from `report.start`, and
 * who sent which (`python` is the slot of the Python upstream).
 */
export function describeDivergence(report: DivergenceReport, python: Implementation): string {
  const who = (side: Implementation): string => (side === python ? 'python' : 'typescript');
  const shadow = report.primaryImplementation === 'legacy' ? 'modern' : 'legacy';
  return (
    `kv: connection ${report.id} diverges at byte ${report.offset}: ` +
    `${who(report.primaryImplementation)} sent ${JSON.stringify(report.primary.toString())}, ` +
    `${who(shadow)} ${JSON.stringify(report.shadow.toString())} (both from byte ${report.start})`
  );
}

/**
 * Start the first step on 127.0.0.1: every client is answered by the Python server at
 * `options.upstream`; the TypeScript port shadows it.
 *
 * @example
 * ```ts
 * const server = await start({ upstream: { host: '127.0.0.1', port: 8000 } });
 * // ... traffic ...
 * console.log(server.divergences); // [] when the port answers as Python does
 * await server.close();
 * ```
 */
export async function start(options: PythonFrontOptions): Promise<RunningPythonFront> {
  const stats = newStats();
  const divergences: DivergenceReport[] = [];
  const dropped: ShadowDropReport[] = [];
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { legacy, modern, python } = implementations(options, options.store ?? new Store(), stats);
  const server = await startMixedServer({
    legacy,
    modern,
    route: python, // the primary: every client gets Python's replies
    shadow: { maxBuffered: 1024 * 1024, grace: 2_000 },
    host: '127.0.0.1',
    port: options.port ?? 0,
    limit: MAX_LINE,
    onError: (error, info) => {
      stats.errors.push(error);
      log(`kv: ${info.role} of connection ${info.id}: ${String(error)}`);
    },
  });
  server.on('divergence', (report) => {
    divergences.push(report);
    log(describeDivergence(report, python));
  });
  server.on('shadowDropped', (report) => {
    dropped.push(report);
    log(`kv: connection ${report.id} not compared: ${report.reason}`);
  });
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    stats: () => stats,
    divergences,
    dropped,
    routed() {
      const { legacy: l, modern: m } = server.stats();
      return python === 'legacy'
        ? { python: l.routed, typescript: m.routed }
        : { python: m.routed, typescript: l.routed };
    },
    settled: () => server.connections === 0 && server.lingeringShadows === 0,
    async close() {
      await server.shutdown({ timeout: 0 });
    },
  };
}

runIfMain(
  import.meta.url,
  () => start({ upstream: { host: '127.0.0.1', port: Number(process.argv[2] ?? 8000) } }),
  'answered by the Python server; the TypeScript port shadows it (divergences on stderr)',
);
