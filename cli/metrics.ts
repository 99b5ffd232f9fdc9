/**
 * `serve --metrics PORT`: the server's counters for Prometheus, on http://127.0.0.1:PORT/metrics,
 * through prom-client (an optional peer dependency of the package).
 *
 * @module
 */
import http from 'node:http';
import type { ConnectionStats } from '../src/modern/index.js';

/** A running metrics endpoint. */
export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `stats` at /metrics on 127.0.0.1:`port` (0: any free port).
 *
 * @throws {Error} If prom-client is not installed (`npm install prom-client`).
 *
 * @example
 * ```ts
 * const endpoint = await serveMetrics(9464, () => server.stats());
 * ```
 */
export async function serveMetrics(
  port: number,
  stats: () => ConnectionStats,
): Promise<MetricsEndpoint> {
  let promClient: typeof import('prom-client');
  let collect: typeof import('../src/metrics.js');
  try {
    promClient = await import('prom-client');
    collect = await import('../src/metrics.js');
  } catch (error) {
    throw new Error(
      'Cannot serve --metrics: prom-client is not installed (npm install prom-client)',
      {
        cause: error,
      },
    );
  }
  const registry = new promClient.Registry();
  collect.collectMetrics(registry, { stats }, { name: 'serve' });
  const server = http.createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.statusCode = 404;
      response.end('not found: try /metrics\n');
      return;
    }
    void registry.metrics().then((text) => {
      response.setHeader('Content-Type', registry.contentType);
      response.end(text);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
