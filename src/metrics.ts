/**
 * Prometheus metrics for dispatch-bridge servers, through `prom-client` (an optional peer
 * dependency: install it to use this entry point, `dispatch-bridge/metrics`).
 *
 * @module
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConnectionStats } from './_core/stats.js';
import { InvalidArgumentError } from './errors.js';

/** Anything with the `stats()` of a `Server`, a `MixedServer` or a `SocketMap`. */
export interface StatsSource {
  stats(): ConnectionStats & {
    legacy?: { routed: number; handlerErrors: number };
    modern?: { routed: number; handlerErrors: number };
    divergences?: number;
    shadowDrops?: number;
  };
}

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** The value of the `server` label that tells this source's series apart (default `'default'`). */
  name?: string | undefined;
  /** The metric names' prefix (default `'dispatch_bridge_'`). */
  prefix?: string | undefined;
}

type Snapshot = ReturnType<StatsSource['stats']>;
type Read = (stats: Snapshot) => number | undefined;

interface MetricSet {
  sources: Map<string, StatsSource>;
  delay: IntervalHistogram;
}

// Per registry: one set of metrics, one series per source (label `server`).
const sets = new WeakMap<Registry, Map<string, MetricSet>>();

const COUNTERS: [string, string, Read][] = [
  ['connections_accepted_total', 'Connections accepted', (s) => s.accepted],
  ['connections_closed_total', 'Connections closed', (s) => s.closed],
  [
    'connections_refused_total',
    'Connections refused (maxConnections, queueTimeout)',
    (s) => s.refused,
  ],
  ['bytes_in_total', 'Bytes received from peers', (s) => s.bytesIn],
  ['bytes_out_total', 'Bytes sent to peers', (s) => s.bytesOut],
  [
    'handler_errors_total',
    'Handler errors reported (disconnects are not errors)',
    (s) => s.handlerErrors,
  ],
  [
    'shadow_divergences_total',
    'Shadow mode: connections whose outputs differed',
    (s) => s.divergences,
  ],
  ['shadow_drops_total', 'Shadow mode: shadows stopped early', (s) => s.shadowDrops],
];

function create(registry: Registry, prefix: string): MetricSet {
  const sources = new Map<string, StatsSource>();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  const each = (read: (name: string, stats: Snapshot) => void): void => {
    for (const [name, source] of sources) read(name, source.stats());
  };
  for (const [suffix, help, read] of COUNTERS) {
    new Counter({
      name: prefix + suffix,
      help,
      labelNames: ['server'],
      registers: [registry],
      collect() {
        this.reset();
        each((server, stats) => {
          const value = read(stats);
          if (value !== undefined) this.inc({ server }, value);
        });
      },
    });
  }
  new Gauge({
    name: `${prefix}connections_active`,
    help: 'Connections open now',
    labelNames: ['server'],
    registers: [registry],
    collect() {
      this.reset();
      each((server, stats) => this.set({ server }, stats.active));
    },
  });
  new Counter({
    name: `${prefix}routed_total`,
    help: 'Mixed server: connections routed to each implementation',
    labelNames: ['server', 'implementation'],
    registers: [registry],
    collect() {
      this.reset();
      each((server, stats) => {
        for (const implementation of ['legacy', 'modern'] as const) {
          const counts = stats[implementation];
          if (counts !== undefined) this.inc({ server, implementation }, counts.routed);
        }
      });
    },
  });
  new Gauge({
    name: `${prefix}event_loop_delay_p99_seconds`,
    help: 'The 99th percentile of the event loop delay since the last scrape',
    registers: [registry],
    collect() {
      this.set(delay.percentile(99) / 1e9);
      delay.reset();
    },
  });
  return { sources, delay };
}

/**
 * Registers the counters of `source` (`stats()` of a `Server`, `MixedServer` or `SocketMap`)
 * with a prom-client `registry`, read at each scrape; several sources share a registry, told
 * apart by the `server` label. While any source is registered the event loop's delay is
 * measured (`perf_hooks.monitorEventLoopDelay`) and exported too. Returns a function that
 * unregisters the source.
 *
 * @throws {TypeError} If `source` has no `stats()`, or `name` is already registered.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * import { collectMetrics } from 'dispatch-bridge/metrics';
 * const registry = new Registry();
 * collectMetrics(registry, server, { name: 'kv' });
 * // GET /metrics: res.end(await registry.metrics())
 * ```
 */
export function collectMetrics(
  registry: Registry,
  source: StatsSource,
  options: CollectMetricsOptions = {},
): () => void {
  if (typeof (source as Partial<StatsSource> | null)?.stats !== 'function') {
    throw new InvalidArgumentError(
      'Expected `source` to have a stats() method (a Server, MixedServer or SocketMap)',
    );
  }
  const prefix = options.prefix ?? 'dispatch_bridge_';
  const name = options.name ?? 'default';
  let byPrefix = sets.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    sets.set(registry, byPrefix);
  }
  let set = byPrefix.get(prefix);
  if (set === undefined) {
    set = create(registry, prefix);
    byPrefix.set(prefix, set);
  }
  if (set.sources.has(name)) {
    throw new InvalidArgumentError(
      `Cannot collect metrics: a source named '${name}' is already registered`,
    );
  }
  set.sources.set(name, source);
  set.delay.enable();
  const current = set;
  return () => {
    if (current.sources.get(name) !== source) return;
    current.sources.delete(name);
    if (current.sources.size === 0) current.delay.disable();
  };
}
