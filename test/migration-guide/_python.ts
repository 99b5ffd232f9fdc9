/**
 * Runs the Python originals of `migration-guide/python/` for the tests: the machine's `python3`
 * (3.11, the last with asyncore and asynchat), one process per server, on 127.0.0.1 and port 0.
 * Each process is killed and waited for by `close()`; a missing `python3`, or one without
 * asyncore, is an error that says so (the tests fail, they are never skipped).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The folder of the Python originals. */
export const PYTHON_DIR = fileURLToPath(new URL('../../migration-guide/python/', import.meta.url));

/** How long a Python server may take to print where it listens. */
const START_TIMEOUT = 15_000;
/** How long it may take to exit after SIGTERM, before SIGKILL. */
const EXIT_TIMEOUT = 5_000;

/** Why the Python originals cannot run here, or undefined when they can. */
export function pythonProblem(): string | undefined {
  const probe = spawnSync(
    'python3',
    [
      '-W',
      'ignore::DeprecationWarning',
      '-c',
      'import sys, asyncore, asynchat; print(sys.version)',
    ],
    { encoding: 'utf8', timeout: 15_000 },
  );
  if (probe.error !== undefined) {
    return `python3 is needed to run the Python originals (Python 3.11, the last with asyncore), but it cannot be run: ${probe.error.message}`;
  }
  if (probe.status !== 0) {
    return `python3 has no asyncore/asynchat (removed in Python 3.12; the Python originals need 3.11): ${probe.stderr.trim().split('\n').pop() ?? ''}`;
  }
  return undefined;
}

/** Throws when the Python originals cannot run, with what is missing. */
export function requirePython(): void {
  const problem = pythonProblem();
  if (problem !== undefined) throw new Error(problem);
}

/** A running Python server. */
export interface PythonServer {
  readonly address: { host: string; port: number };
  readonly port: number;
  /** What it wrote to standard error so far. */
  stderr(): string;
  /** Kill it (SIGTERM, then SIGKILL) and wait until it has exited. */
  close(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stop(child: ChildProcess): Promise<void> {
  const gone = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT);
  try {
    await gone;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Start `migration-guide/python/<file>` with `--host 127.0.0.1 --port 0` and `args`; resolves
 * once it printed `listening on HOST:PORT`.
 *
 * @example
 * ```ts
 * const python = await startPython('kv_asyncore.py');
 * try { ... python.port ... } finally { await python.close(); }
 * ```
 */
export async function startPython(
  file: string,
  args: readonly string[] = [],
): Promise<PythonServer> {
  requirePython();
  const child = spawn(
    'python3',
    [
      '-W',
      'ignore::DeprecationWarning',
      `${PYTHON_DIR}${file}`,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  try {
    const address = await new Promise<{ host: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`${file} did not say where it listens within ${START_TIMEOUT} ms: ${stderr}`),
          ),
        START_TIMEOUT,
      );
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        const match = /^listening on ([\d.]+):(\d+)$/m.exec(stdout);
        if (match === null) return;
        clearTimeout(timer);
        resolve({ host: match[1] ?? '', port: Number(match[2]) });
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`Cannot run python3 for ${file}: ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`${file} exited (${signal ?? `code ${code}`}) before listening: ${stderr}`),
        );
      });
    });
    return {
      address,
      port: address.port,
      stderr: () => stderr,
      close: () => stop(child),
    };
  } catch (error) {
    await stop(child);
    throw error;
  }
}
