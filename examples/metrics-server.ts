/**
 * A mixed server (the same line echo in the legacy and the modern style, one port) with its
 * counters for Prometheus on `/metrics`, served with `node:http` through prom-client. In a clone,
 * run it with `node --import ./scripts/ts-register.mjs examples/metrics-server.ts`, connect with
 * `nc 127.0.0.1 PORT`, and scrape `curl http://127.0.0.1:METRICS_PORT/metrics`. Import
 * {@link startMetricsExample} to embed it.
 *
 * Every second connection goes to the modern handler (`route: { by: 'fraction', modern: 0.5 }`),
 * so `dispatch_bridge_routed_total` shows both implementations. The server listens on 127.0.0.1,
 * `PORT` and `METRICS_PORT` from the environment (default 0: any free port), and stops cleanly
 * on Ctrl+C (SIGINT) or SIGTERM.
 *
 * @module
 */
import http from 'node:http';
import process from 'node:process';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { startMixedServer, type MixedServer } from 'dispatch-bridge/adapter';
import { AsyncChat, type SocketMap } from 'dispatch-bridge/legacy';
import { collectMetrics } from 'dispatch-bridge/metrics';
import type { StreamHandler } from 'dispatch-bridge/modern';

/** asynchat's line echo: each line comes back as it was sent. */
class LegacyEcho extends AsyncChat {
  #parts: Buffer[] = [];
  constructor(options: { socket: Duplex; map: SocketMap }) {
    super(options);
    this.setTerminator('\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }
  override foundTerminator(): void {
    this.push(Buffer.concat([...this.#parts.splice(0), Buffer.from('\n')]));
  }
}

/** The same echo with asyncio streams. */
const modernEcho: StreamHandler = async (reader, writer) => {
  for (let line = await reader.readLine(); line.length > 0; line = await reader.readLine()) {
    writer.write(line);
    await writer.drain();
  }
};

/** A running example: the echo server, its metrics endpoint and the registry behind it. */
export interface MetricsExample {
  /** The mixed echo server. */
  readonly server: MixedServer;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The port of `GET /metrics` on 127.0.0.1. */
  readonly metricsPort: number;
  /** The prom-client registry the endpoint serves. */
  readonly registry: Registry;
  /** Stops the endpoint and the server (open connections get `timeout` ms to finish). */
  close(timeout?: number): Promise<void>;
}

/**
 * Starts the echo server and its metrics endpoint on 127.0.0.1 (port 0: any free port).
 *
 * @example
 * ```ts
 * const example = await startMetricsExample();
 * const text = await (await fetch(`http://127.0.0.1:${example.metricsPort}/metrics`)).text();
 * await example.close();
 * ```
 */
export async function startMetricsExample(
  options: { port?: number; metricsPort?: number } = {},
): Promise<MetricsExample> {
  const server = await startMixedServer({
    legacy: LegacyEcho,
    modern: modernEcho,
    route: { by: 'fraction', modern: 0.5 },
    host: '127.0.0.1',
    port: options.port ?? 0,
  });
  const registry = new Registry();
  const unregister = collectMetrics(registry, server, { name: 'echo' });
  const endpoint = http.createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.statusCode = 404;
      response.end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        response.setHeader('Content-Type', registry.contentType);
        response.end(text);
      },
      (error: unknown) => {
        response.statusCode = 500;
        response.end(`${String(error)}\n`);
      },
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      endpoint.once('error', reject);
      endpoint.listen(options.metricsPort ?? 0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    unregister();
    await server.shutdown({ timeout: 0 });
    throw error;
  }
  const { port } = server.address() as { port: number };
  const { port: metricsPort } = endpoint.address() as { port: number };
  return {
    server,
    port,
    metricsPort,
    registry,
    async close(timeout = 1_000) {
      try {
        endpoint.closeAllConnections();
        await new Promise<void>((resolve) => endpoint.close(() => resolve()));
      } finally {
        unregister();
        await server.shutdown({ timeout });
      }
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const example = await startMetricsExample({
    port: Number(process.env['PORT'] ?? 0),
    metricsPort: Number(process.env['METRICS_PORT'] ?? 0),
  });
  console.log(`echo on 127.0.0.1:${example.port}`);
  console.log(`metrics on http://127.0.0.1:${example.metricsPort}/metrics`);
  const stop = (): void => {
    void example.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
