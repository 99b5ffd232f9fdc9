/**
 * `dispatch-bridge serve --shadow`: the in-process shadow. One example is served in the style
 * given by `--style` (the primary: clients get its replies) and the other style runs as its
 * shadow on a copy of each connection's input; each divergence is printed as `proxy --shadow`
 * prints it, with a running summary.
 *
 * @module
 */
import type { LegacyHandlerClass, MixedServerStats } from '../src/adapter/index.js';
import { startMixedServer } from '../src/adapter/index.js';
import type { StreamHandler } from '../src/modern/index.js';
import { formatDivergence, formatSummary } from './proxy.js';
import type { RunningExample } from './servers.js';

/** What {@link startShadowed} runs: both implementations of one protocol. */
export interface ShadowedOptions {
  /** The protocol's legacy handler class. */
  legacy: LegacyHandlerClass;
  /** The protocol's modern handler. */
  modern: StreamHandler;
  /** The primary; the other style is the shadow. */
  primary: 'legacy' | 'modern';
  /** Where to listen. */
  host: string;
  /** The TCP port (0: any free one). */
  port: number;
  /** The readers' `limit` (the protocol's longest line), if any. */
  limit?: number | undefined;
  /** How often (ms) the summary is printed while something changed (default 10_000). */
  summaryEvery?: number | undefined;
}

/** A running shadowed server: an example server, plus its summary. */
export interface ShadowedExample extends RunningExample {
  /** Connections, divergences, dropped shadows and errors so far, as one line. */
  summary(): string;
  /** The mixed server's counters. */
  counters: () => MixedServerStats;
}

/**
 * Serve `legacy` and `modern` on one port: `primary` answers, the other shadows it. `write`
 * gets one line per divergence and per handler error, `summary: …` every `summaryEvery` ms when
 * the totals changed, and a last summary once closed.
 *
 * @example
 * ```ts
 * const server = await startShadowed({ legacy: KvChannel, modern: kvHandler, primary: 'legacy', host: '127.0.0.1', port: 0 }, write);
 * await server.close(); // prints the last summary
 * ```
 */
export async function startShadowed(
  options: ShadowedOptions,
  write: (text: string) => void,
): Promise<ShadowedExample> {
  const shadow = options.primary === 'legacy' ? 'modern' : 'legacy';
  const server = await startMixedServer({
    legacy: options.legacy,
    modern: options.modern,
    route: options.primary,
    shadow: true,
    host: options.host,
    port: options.port,
    limit: options.limit,
    backlog: 511,
  });
  server.on('divergence', (report) => write(formatDivergence(report, shadow, options.primary)));
  server.on('error', (error, info) => {
    const where = info === undefined ? 'listener' : `connection ${info.id} (${info.role})`;
    write(`error on ${where}: ${error instanceof Error ? error.message : String(error)}\n`);
  });
  let last = formatSummary(server.stats());
  const timer = setInterval(() => {
    const now = formatSummary(server.stats());
    if (now === last) return;
    last = now;
    write(`summary: ${now}`);
  }, options.summaryEvery ?? 10_000);
  timer.unref();
  const address = server.address();
  if (!('host' in address)) {
    clearInterval(timer);
    await server.shutdown({ timeout: 0 });
    throw new Error('Cannot serve --shadow on a Unix socket');
  }
  let closing: Promise<void> | undefined;
  return {
    address: { host: address.host, port: address.port },
    connections: () => server.connections,
    counters: () => server.stats(),
    summary: () => formatSummary(server.stats()),
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await server.shutdown({ timeout: 0 });
        write(`summary: ${formatSummary(server.stats())}`);
      })();
      return closing;
    },
  };
}
