/**
 * A TCP proxy with backpressure, modern style (asyncio streams). Compare with `proxy-legacy.ts`.
 *
 * Each client connection opens a connection to the target and runs two copy loops at once:
 * client → target and target → client. Each loop is read, write, `await drain()`: while it waits
 * for a slow receiver it does not read, its reader's buffer fills up to the limit, the reader
 * pauses its socket, and TCP slows the sender down. When one direction ends, the loop closes the
 * writer of the other end (after flushing), which ends the other loop too.
 *
 * @module
 */
import process from 'node:process';
import {
  openConnection,
  startServer,
  type ConnectionContext,
  type StreamReader,
  type StreamWriter,
} from 'dispatch-bridge/modern';
import type { RunningProxy } from './proxy-legacy.js';
import { runIfMain, tcpAddress } from './_run.js';

/** Each reader's buffer limit: it pauses its socket past 2 × LIMIT buffered bytes. */
export const LIMIT = 32 * 1024;

/** Copies `from` into `to` until end-of-stream, then closes `to`. */
async function pipe(from: StreamReader, to: StreamWriter): Promise<void> {
  for (;;) {
    const data = await from.read(16384);
    if (data.length === 0) break;
    to.write(data);
    await to.drain(); // the backpressure: no more reading until `to` has room
  }
  to.close();
}

/**
 * Start the modern proxy on 127.0.0.1, forwarding every connection to `target`.
 *
 * @example
 * ```ts
 * const proxy = await startProxyModern({ host: '127.0.0.1', port: 8080 });
 * await proxy.close();
 * ```
 */
export async function startProxyModern(
  target: { host: string; port: number },
  port = 0,
): Promise<RunningProxy> {
  // The reader/writer pairs of open connections (both ends), for buffered() and paused().
  const live = new Set<{ reader: StreamReader; writer: StreamWriter }>();

  async function proxy(
    reader: StreamReader,
    writer: StreamWriter,
    { signal }: ConnectionContext,
  ): Promise<void> {
    const upstream = await openConnection({ ...target, limit: LIMIT, signal });
    const client = { reader, writer };
    live.add(client).add(upstream);
    try {
      await Promise.all([pipe(reader, upstream.writer), pipe(upstream.reader, writer)]);
    } finally {
      upstream.writer.close(); // on every path, like handleClose() closing the peer
      live.delete(client);
      live.delete(upstream);
    }
  }

  const server = await startServer(proxy, { host: '127.0.0.1', port, limit: LIMIT });
  server.on('error', () => undefined); // a peer reset or a refused target: that connection closes
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    buffered() {
      let total = 0;
      for (const { reader, writer } of live) {
        // The reader's buffer, the writer's, and what the socket itself holds.
        total += reader.bufferedLength + writer.bufferedLength + writer.transport.readableLength;
      }
      return total;
    },
    paused: () => [...live].some(({ reader }) => reader.paused),
    close: () => server.shutdown({ timeout: 0 }),
  };
}

runIfMain(
  import.meta.url,
  () => startProxyModern({ host: '127.0.0.1', port: Number(process.env.TARGET_PORT ?? 7) }),
  'forwarding to 127.0.0.1:$TARGET_PORT',
);
