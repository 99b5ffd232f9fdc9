/**
 * Request/response with per-request timeouts, modern style (asyncio streams + `timeout()`).
 * Compare with `reqres-legacy.ts`: same protocol, same answers.
 *
 * The async way to wait: `await` it, inside `timeout(ms, work)`. The work gets an AbortSignal
 * that fires at the deadline (or when the connection closes), so a timed-out request stops
 * instead of running on unseen. Pipelined requests simply wait in the reader's buffer.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  TimeoutError,
  startServer,
  timeout,
  type ConnectionContext,
  type StreamReader,
  type StreamWriter,
} from 'dispatch-bridge/modern';
import type { RequestServerOptions } from './reqres-legacy.js';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

const MAX_LINE = 1024;
const MAX_SLOW = 60_000;

/** Answers one request line (without its "\n"). */
async function answer(line: string, requestTimeout: number, signal: AbortSignal): Promise<string> {
  const space = line.indexOf(' ');
  const command = space === -1 ? line : line.slice(0, space);
  const argument = space === -1 ? '' : line.slice(space + 1);
  switch (command) {
    case 'TIME':
      return `OK ${new Date().toISOString()}`;
    case 'ECHO':
      return `OK ${argument}`;
    case 'SLOW': {
      const ms = /^\d+$/.test(argument) ? Number(argument) : NaN;
      if (!(ms <= MAX_SLOW)) return 'ERROR bad argument';
      try {
        // The work gets the deadline's signal; the outer signal is the connection's.
        await timeout(requestTimeout, (deadline) => sleep(ms, undefined, { signal: deadline }), {
          signal,
        });
        return `OK slept ${ms}`;
      } catch (error) {
        if (error instanceof TimeoutError) return 'ERROR timeout';
        throw error; // the connection closed: let the handler end
      }
    }
    default:
      return 'ERROR unknown command';
  }
}

/**
 * Start the modern request/response server on 127.0.0.1.
 *
 * @example
 * ```ts
 * const server = await startRequestModern({ requestTimeout: 500 });
 * await server.close();
 * ```
 */
export async function startRequestModern(
  options: RequestServerOptions = {},
): Promise<RunningServer> {
  const requestTimeout = options.requestTimeout ?? 1_000;

  async function serve(
    reader: StreamReader,
    writer: StreamWriter,
    { signal }: ConnectionContext,
  ): Promise<void> {
    for await (const raw of reader) {
      // `for await` yields lines, like `async for line in reader`; one request at a time.
      let line = raw.toString('utf8').replace(/\n$/, '');
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === 'QUIT') {
        writer.write('OK bye\n');
        return; // the server flushes and closes the connection
      }
      writer.write(`${await answer(line, requestTimeout, signal)}\n`);
      await writer.drain({ signal });
    }
  }

  const server = await startServer(serve, {
    host: '127.0.0.1',
    port: options.port ?? 0,
    limit: MAX_LINE,
  });
  server.on('error', () => undefined); // too-long line or lost connection: that connection closes
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    close: () => server.shutdown({ timeout: 0 }),
  };
}

runIfMain(import.meta.url, startRequestModern, 'commands: TIME, ECHO text, SLOW ms, QUIT');
