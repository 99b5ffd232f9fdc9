/**
 * Shared scaffolding of the teaching pairs (not part of any lesson): the shape every
 * `start…()` returns, and `runIfMain()`, which lets each example file run on its own:
 *
 * ```sh
 * node --import ./scripts/ts-register.mjs migration-guide/examples/pairs/echo-legacy.ts
 * ```
 *
 * @module
 */
import process from 'node:process';
import { pathToFileURL } from 'node:url';

/** A running example server. */
export interface RunningServer {
  /** Where it listens (127.0.0.1 and the real port). */
  readonly address: { host: string; port: number };
  /** Shorthand for `address.port`. */
  readonly port: number;
  /** How many client connections are open. */
  connections(): number;
  /** Stop listening and close every connection; resolves once everything is closed. */
  close(): Promise<void>;
}

/**
 * The listening address of a legacy dispatcher or a modern server, as `{ host, port }`.
 *
 * @example
 * ```ts
 * const { port } = tcpAddress(server.address());
 * ```
 */
export function tcpAddress(address: unknown): { host: string; port: number } {
  if (
    typeof address === 'object' &&
    address !== null &&
    'host' in address &&
    'port' in address &&
    typeof address.host === 'string' &&
    typeof address.port === 'number'
  ) {
    return { host: address.host, port: address.port };
  }
  throw new Error(`Cannot use this address: expected a TCP address, got ${String(address)}`);
}

/**
 * Start a server from the command line: print where it listens and how to try it, and stop it on
 * Ctrl+C (SIGINT) or SIGTERM. Resolves with the running server.
 *
 * @example
 * ```ts
 * await runMain(() => startEchoLegacy(), 'everything you type comes back');
 * ```
 */
export async function runMain(
  start: () => Promise<RunningServer>,
  usage: string,
  write: (text: string) => void = (text) => process.stdout.write(text),
): Promise<RunningServer> {
  const server = await start();
  const { host, port } = server.address;
  write(`listening on ${host}:${port}; try: nc ${host} ${port}\n${usage}\n`);
  const stop = (): void => {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    void server.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return server;
}

/**
 * Calls {@link runMain} when `moduleUrl` is the file node was started with.
 *
 * @example
 * ```ts
 * runIfMain(import.meta.url, startEchoLegacy, 'everything you type comes back');
 * ```
 */
export function runIfMain(
  moduleUrl: string,
  start: () => Promise<RunningServer>,
  usage: string,
): void {
  const entry = process.argv[1];
  if (entry === undefined || moduleUrl !== pathToFileURL(entry).href) return;
  runMain(start, usage).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
