/**
 * `dispatch-bridge proxy`: a mixed server in front of the server that runs today. Every client
 * is served by the upstream (a transparent proxy); with `--shadow`, the example's TypeScript
 * implementation runs as the shadow and each divergence is printed, with a summary at the end.
 *
 * @module
 */
import process from 'node:process';
import {
  startMixedServer,
  upstream,
  type DivergenceReport,
  type MixedServerStats,
} from '../src/adapter/index.js';
import type { StreamHandler } from '../src/modern/index.js';
import { MAX_LINE, Store, newStats } from '../migration-guide/examples/steps/_kv.js';
import { kvHandler } from '../migration-guide/examples/steps/kv-modern.js';
import type { ProxyOptions } from './args.js';

const echo: StreamHandler = async (reader, writer) => {
  for (;;) {
    const data = await reader.read(65536);
    if (data.length === 0) return;
    writer.write(data);
    await writer.drain();
  }
};

function shadowHandler(example: NonNullable<ProxyOptions['shadow']>): StreamHandler {
  if (example === 'echo') return echo;
  // The guide's kv port: the protocol of its Python originals (migration-guide/python/).
  return kvHandler(new Store(), newStats());
}

const shown = (bytes: Buffer): string => JSON.stringify(bytes.toString('latin1'));

/**
 * One divergence as a line a person can act on: where, and both sides from `report.start`.
 *
 * @example
 * ```ts
 * server.on('divergence', (report) => write(formatDivergence(report, 'kv')));
 * // divergence on connection 2 at byte 0: upstream "VALUE a\n" vs kv "NOT_FOUND\n" (from byte 0)
 * ```
 */
export function formatDivergence(
  report: DivergenceReport,
  shadow: string,
  primary = 'upstream',
): string {
  return (
    `divergence on connection ${report.id} at byte ${report.offset}: ` +
    `${primary} ${shown(report.primary)} vs ${shadow} ${shown(report.shadow)} ` +
    `(from byte ${report.start})\n`
  );
}

/**
 * The running totals of a shadowed server, as one line.
 *
 * @example
 * ```ts
 * write(`summary: ${formatSummary(server.stats())}`); // summary: 2 connections, 1 diverged, ...
 * ```
 */
export function formatSummary(stats: MixedServerStats): string {
  return (
    `${stats.accepted} connections, ${stats.divergences} diverged, ` +
    `${stats.shadowDrops} shadows dropped, ${stats.handlerErrors} errors\n`
  );
}

/** A running proxy. */
export interface RunningProxy {
  readonly address: { host: string; port: number };
  /** Connections, divergences and dropped shadows so far, as one line. */
  summary(): string;
  close(): Promise<void>;
}

/**
 * Starts the proxy; `write` gets the divergence lines.
 *
 * @example
 * ```ts
 * const proxy = await startProxy({ listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: 8000 }, shadow: 'kv' }, (line) => process.stdout.write(line));
 * ```
 */
export async function startProxy(
  options: ProxyOptions,
  write: (text: string) => void,
): Promise<RunningProxy> {
  const target = upstream(options.upstream);
  const server = await startMixedServer({
    legacy: target,
    modern: options.shadow === undefined ? echo : shadowHandler(options.shadow),
    route: 'legacy',
    shadow: options.shadow !== undefined,
    host: options.listen.host,
    port: options.listen.port,
    limit: options.shadow === 'kv' ? MAX_LINE : undefined,
  });
  server.on('divergence', (report) => write(formatDivergence(report, options.shadow ?? 'shadow')));
  server.on('error', (error, info) => {
    const where = info === undefined ? 'listener' : `connection ${info.id} (${info.role})`;
    write(`error on ${where}: ${error instanceof Error ? error.message : String(error)}\n`);
  });
  const { host, port } = server.address() as { host: string; port: number };
  return {
    address: { host, port },
    summary: () => formatSummary(server.stats()),
    close: () => server.shutdown({ timeout: 1_000 }),
  };
}

/** The command: serve until SIGINT/SIGTERM, then print the summary. Resolves with 0. */
export async function runProxy(
  options: ProxyOptions,
  write: (text: string) => void = (text) => void process.stdout.write(text),
): Promise<number> {
  const proxy = await startProxy(options, write);
  const { host, port } = proxy.address;
  write(
    `dispatch-bridge: proxy on ${host}:${port} to ${options.upstream.host}:${options.upstream.port}` +
      `${options.shadow === undefined ? '' : `, shadowed by the ${options.shadow} example`}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await proxy.close();
  write(`summary: ${proxy.summary()}`);
  return 0;
}
