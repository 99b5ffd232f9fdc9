/**
 * The `dispatch-bridge` command: `demo` (what `npm start` runs), `serve`, `--help`, `--version`.
 * `bin/dispatch-bridge.mjs` loads this file (through ts-node in a clone, compiled to dist/cli in the
 * published package) and calls {@link main}.
 *
 * @module
 */
import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import process from 'node:process';
import { USAGE, UsageError, parseArgs } from './args.js';

/** Where {@link main} writes; tests pass their own. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/**
 * The package's version, from its package.json: two levels up from the compiled CLI
 * (dist/cli/main.js), one from the source (cli/main.ts).
 */
export function version(): string {
  for (const path of ['../package.json', '../../package.json']) {
    const url = new URL(path, import.meta.url);
    if (!existsSync(url)) continue;
    const manifest = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version: string };
    if (manifest.name === 'dispatch-bridge') return manifest.version;
  }
  throw new Error('Cannot find the package.json of dispatch-bridge');
}

/**
 * Run the command line `argv` (without the program name); resolves with the exit code: 0 done,
 * 1 the demo found a wrong answer (or a server failed), 2 a bad command line, 130 the demo was
 * interrupted (Ctrl+C).
 *
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2));
 * ```
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let command;
  try {
    command = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`dispatch-bridge: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  switch (command.command) {
    case 'help':
      io.stdout(USAGE);
      return 0;
    case 'version':
      io.stdout(`${version()}\n`);
      return 0;
    case 'demo': {
      // Loaded on demand, so that --help and --version do not load the whole library.
      const { formatTable, runDemo } = await import('./demo.js');
      // Ctrl+C (or SIGTERM) interrupts: the current server closes and the progress line is
      // cleared before the shell prints its prompt. A second one while that happens changes
      // nothing; the listeners stay until the demo has stopped.
      const interrupt = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void =>
        interrupt.abort(new Error(`Interrupted by ${signal}`));
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const result = await runDemo({
          quick: command.quick,
          write: io.stdout,
          signal: interrupt.signal,
        });
        io.stdout(formatTable(result));
        return result.allCorrect ? 0 : 1;
      } catch (error) {
        if (!interrupt.signal.aborted || error !== interrupt.signal.reason) throw error;
        io.stderr(`dispatch-bridge: demo interrupted\n`);
        return 130;
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    }
    case 'serve': {
      if (command.workers > 1 && cluster.isPrimary) {
        const { servePrimary } = await import('./primary.js');
        return servePrimary(command, io.stdout);
      }
      const { serve, serveWorker } = await import('./serve.js');
      const { UnsupportedExampleError } = await import('./servers.js');
      try {
        if (cluster.isWorker) {
          await serveWorker(command);
          return 0;
        }
        const stopLog =
          command.log === true
            ? (await import('./log.js')).logConnections(io.stderr)
            : () => undefined;
        try {
          const serving = await serve(command, io.stdout);
          await serving.stopped;
        } finally {
          stopLog();
        }
        return 0;
      } catch (error) {
        if (error instanceof UnsupportedExampleError) {
          io.stderr(`dispatch-bridge: ${error.message}\n\n${USAGE}`);
          return 2;
        }
        io.stderr(`dispatch-bridge: ${error instanceof Error ? error.message : String(error)}\n`);
        return 1;
      }
    }
    case 'proxy': {
      const { runProxy } = await import('./proxy.js');
      try {
        return await runProxy(command, io.stdout);
      } catch (error) {
        io.stderr(`dispatch-bridge: ${error instanceof Error ? error.message : String(error)}\n`);
        return 1;
      }
    }
  }
}
