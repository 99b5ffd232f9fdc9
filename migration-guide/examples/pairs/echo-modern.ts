/**
 * Echo, modern style (asyncio streams). Compare with `echo-legacy.ts`.
 *
 * One async function per connection, written top to bottom: read, write, wait for the socket to
 * drain, repeat. The server closes the connection when the function returns.
 *
 * @module
 */
import { startServer, type StreamReader, type StreamWriter } from 'dispatch-bridge/modern';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

/** Serves one connection until the client ends it. */
async function echo(reader: StreamReader, writer: StreamWriter): Promise<void> {
  for (;;) {
    const data = await reader.read(65536); // empty at end-of-stream
    if (data.length === 0) return;
    writer.write(data);
    // Backpressure: while we wait here we do not read, the reader's buffer fills up to its
    // limit, the socket is paused and TCP slows the client down. Never skip drain().
    await writer.drain();
  }
}

/**
 * Start the modern echo server on 127.0.0.1 (port 0: any free port).
 *
 * @example
 * ```ts
 * const server = await startEchoModern();
 * await server.close();
 * ```
 */
export async function startEchoModern(port = 0): Promise<RunningServer> {
  const server = await startServer(echo, { host: '127.0.0.1', port });
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    // Like legacy closeAll(): stop listening and cut open connections at once.
    close: () => server.shutdown({ timeout: 0 }),
  };
}

runIfMain(import.meta.url, startEchoModern, 'everything you type comes back');
