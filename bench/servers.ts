// The echo servers that the benchmark compares. Each row is a factory that starts one server on
// 127.0.0.1 with an ephemeral port. Every server speaks the same protocol, so one load client
// measures them all: whatever bytes arrive go back unchanged (line servers echo whole lines, which
// is the same thing for a client that sends newline-terminated lines).
import net from 'node:net';

/** A started benchmark server. */
export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** A benchmark row: how to start the server, and what it is compared with. */
export interface ServerRow {
  /** Short description printed in the table. */
  description: string;
  /** The reference row this one is compared with (`undefined` for a reference itself). */
  reference?: string;
  /** The largest acceptable ratio of server CPU per message against the reference. */
  target?: number;
  start(): Promise<RunningServer>;
}

function listen(server: net.Server): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const { port } = server.address() as net.AddressInfo;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
          }),
      });
    });
  });
}

/** Raw `node:net`: `socket.on('data', (chunk) => socket.write(chunk))`. The reference row. */
function rawNetEcho(): Promise<RunningServer> {
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
  });
  return listen(server);
}

/** Raw `node:net` with backpressure, written as `for await (const chunk of socket)`. */
function forAwaitEcho(): Promise<RunningServer> {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    void (async () => {
      try {
        for await (const chunk of socket) {
          if (!socket.write(chunk as Buffer)) {
            await new Promise((resolve) => socket.once('drain', resolve));
          }
        }
        socket.end();
      } catch {
        socket.destroy();
      }
    })();
  });
  return listen(server);
}

/** Every row, in the order the table prints them. */
export const serverRows: Record<string, ServerRow> = {
  'raw net': {
    description: "raw node:net echo, socket.on('data') → write",
    start: rawNetEcho,
  },
  'for await': {
    description: 'raw node:net echo, for await (const chunk of socket) + drain',
    reference: 'raw net',
    start: forAwaitEcho,
  },
};
