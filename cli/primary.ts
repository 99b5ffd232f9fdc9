/**
 * `dispatch-bridge serve --workers N`: the `node:cluster` primary. It loads nothing of the
 * library (so that the workers start sooner); each worker runs `serve` (see `serve.ts`).
 *
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import process from 'node:process';
import { HINTS, type ServeOptions } from './args.js';

/**
 * `--workers N`: this process is the cluster primary; it forks N workers (each runs
 * {@link serve} on the shared port), prints the address once all listen, relays SIGINT/SIGTERM
 * to them, and resolves with an exit code once every worker has exited.
 *
 * @example
 * ```ts
 * process.exitCode = await servePrimary({ ...options, workers: 4 });
 * ```
 */
export function servePrimary(
  options: ServeOptions,
  write: (text: string) => void = (text) => void process.stdout.write(text),
): Promise<number> {
  return new Promise((resolve) => {
    const workers = new Set<Worker>();
    let listening = 0;
    let failed = false;
    let stopping = false;
    const relay = (signal: NodeJS.Signals): void => {
      if (!stopping) write('stopping\n');
      stopping = true;
      for (const worker of workers) worker.process.kill(signal);
    };
    const onSigint = (): void => relay('SIGINT');
    const onSigterm = (): void => relay('SIGTERM');
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    const onListening = (_worker: Worker, address: { address: string; port: number }): void => {
      listening++;
      if (listening !== options.workers) return;
      const host = options.host;
      write(
        `dispatch-bridge: ${options.example} (${options.style} style), ${options.workers} workers ` +
          `listening on ${host.includes(':') ? `[${host}]` : host}:${address.port}\n` +
          `try: nc ${host} ${address.port}   (${HINTS[options.example]}; Ctrl+C stops)\n`,
      );
    };
    const onExit = (worker: Worker, code: number | null, signal: string | null): void => {
      workers.delete(worker);
      if (code !== 0 && !stopping) {
        // A worker that fails on its own (e.g. the port is taken): say why, stop the others too.
        process.stderr.write(
          `dispatch-bridge: worker ${worker.id} (pid ${worker.process.pid ?? '?'}) exited ` +
            `${signal === null ? `with code ${code ?? '?'}` : `by ${signal}`}; stopping the others ` +
            `(its own error, if it printed one, is above)\n`,
        );
        failed = true;
        relay('SIGTERM');
      }
      if (workers.size > 0) return;
      process.removeListener('SIGINT', onSigint);
      process.removeListener('SIGTERM', onSigterm);
      cluster.removeListener('listening', onListening);
      cluster.removeListener('exit', onExit);
      resolve(failed ? 1 : 0);
    };
    cluster.on('listening', onListening);
    cluster.on('exit', onExit);
    for (let index = 0; index < options.workers; index++) workers.add(cluster.fork());
  });
}
