/**
 * `dispatch-bridge serve`: one example server in this process, or `--workers N` processes on one
 * port through `node:cluster`. Stops cleanly on SIGINT/SIGTERM.
 *
 * @module
 */
import process from 'node:process';
import { HINTS, type ServeOptions } from './args.js';
import {
  UnsupportedExampleError,
  startExample,
  startShadowExample,
  type RunningExample,
} from './servers.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** A server started by {@link serve}. */
export interface Serving {
  readonly server: RunningExample;
  /** Resolves once the server has stopped (after a signal or {@link Serving.stop}). */
  readonly stopped: Promise<void>;
  /** Stop now (what SIGINT/SIGTERM do). */
  stop(): Promise<void>;
}

/**
 * Serve in this process: print the address and how to try it, stop on SIGINT/SIGTERM.
 *
 * @example
 * ```ts
 * const serving = await serve({ example: 'echo', style: 'modern', host: '127.0.0.1', port: 0, workers: 1 });
 * await serving.stopped; // after Ctrl+C
 * ```
 */
export async function serve(
  options: ServeOptions,
  write: (text: string) => void = (text) => void process.stdout.write(text),
  quiet = false,
): Promise<Serving> {
  const shadowed = options.shadow === true && options.style !== 'mixed' ? options.style : undefined;
  const server =
    shadowed === undefined
      ? await startExample(options.example, options.style, options)
      : await startShadowExample(options.example, shadowed, options, write);
  const { host, port } = server.address;
  let metrics: { port: number; close(): Promise<void> } | undefined;
  if (options.metrics !== undefined) {
    const stats = server.counters;
    if (stats === undefined) {
      await server.close();
      throw new UnsupportedExampleError(
        `Cannot serve --metrics for the ${options.example} example in the ${options.style} style: it has no counters (try --style mixed)`,
      );
    }
    try {
      const { serveMetrics } = await import('./metrics.js');
      metrics = await serveMetrics(options.metrics, stats);
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  if (!quiet) {
    const shown = host.includes(':') ? `[${host}]` : host;
    write(
      `dispatch-bridge: ${options.example} (${options.style} style` +
        `${shadowed === undefined ? '' : `, ${shadowed === 'legacy' ? 'modern' : 'legacy'} shadow`}) ` +
        `listening on ${shown}:${port}\n` +
        `try: nc ${host} ${port}   (${HINTS[options.example]}; Ctrl+C stops)\n` +
        (metrics === undefined ? '' : `metrics: http://127.0.0.1:${metrics.port}/metrics\n`),
    );
  }
  let stopping: Promise<void> | undefined;
  let markStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  const stop = (): Promise<void> => {
    // The signal listeners stay until the server is closed: a second Ctrl+C (or the cluster
    // primary relaying the terminal's) must not kill the process halfway through closing.
    stopping ??= Promise.all([server.close(), metrics?.close()])
      .then(() => undefined)
      .finally(() => {
        for (const signal of SIGNALS) process.removeListener(signal, onSignal);
        markStopped();
      });
    return stopping;
  };
  const onSignal = (): void => {
    if (!quiet && stopping === undefined) write('stopping\n');
    stop().catch((error: unknown) => {
      process.stderr.write(`dispatch-bridge: ${String(error)}\n`);
      process.exitCode = 1;
    });
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return { server, stopped, stop };
}

/**
 * The worker side of `--workers N`: serve quietly (the primary prints), exit once stopped.
 *
 * @example
 * ```ts
 * if (cluster.isWorker) await serveWorker(options);
 * ```
 */
export async function serveWorker(options: ServeOptions): Promise<void> {
  const serving = await serve(options, undefined, true);
  await serving.stopped;
  // The IPC channel to the primary would keep this process alive.
  process.exit(0);
}
