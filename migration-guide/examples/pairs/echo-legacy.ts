/**
 * Echo, legacy style (asyncore). Compare with `echo-modern.ts`: same behaviour, other style.
 *
 * asyncore's recipe: a listening dispatcher whose `handleAccepted()` wraps each new socket in a
 * handler; the handler's `handleRead()` receives what is there and sends it back. The loop calls
 * the handlers; our code never waits for anything.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { Dispatcher, DispatcherWithSend, SocketMap, loop } from 'dispatch-bridge/legacy';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

/** Stop reading while this many bytes wait to go back to a client that does not read. */
const MAX_PENDING = 64 * 1024;

/** One connection. DispatcherWithSend keeps what the socket could not take yet. */
class EchoHandler extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(65536); // empty at end-of-stream: recv() then calls handleClose()
    if (data.length > 0) this.send(data);
  }

  // Backpressure: a client that sends but never reads would make our out buffer grow forever.
  // While readable() is false the loop does not call handleRead(), so nothing more is read.
  override readable(): boolean {
    return this.outBufferLength < MAX_PENDING;
  }
}

/** The listening socket: each accepted connection gets its own EchoHandler. */
class EchoServer extends Dispatcher {
  override handleAccepted(socket: Duplex): void {
    new EchoHandler({ socket, map: this.map });
  }
}

/**
 * Start the legacy echo server on 127.0.0.1 (port 0: any free port).
 *
 * @example
 * ```ts
 * const server = await startEchoLegacy();
 * // nc 127.0.0.1 server.port
 * await server.close();
 * ```
 */
export async function startEchoLegacy(port = 0): Promise<RunningServer> {
  const map = new SocketMap(); // our own map, so that this server has its own loop
  const server = new EchoServer({ map });
  server.bind({ host: '127.0.0.1', port });
  await server.listen();
  const done = loop({ map }); // runs until the map is empty
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => map.size - 1, // every dispatcher but the listener
    async close() {
      map.closeAll(); // closes the listener and every connection: the loop then ends
      await done;
    },
  };
}

runIfMain(import.meta.url, startEchoLegacy, 'everything you type comes back');
