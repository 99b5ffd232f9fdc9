// The echo servers that the benchmark compares. Each row is a factory that starts one server on
// 127.0.0.1 with an ephemeral port. Every server speaks the same protocol, so one load client
// measures them all: whatever bytes arrive go back unchanged (line servers echo whole lines, which
// is the same thing for a client that sends newline-terminated lines).
import { fork } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  AsyncChat,
  Dispatcher,
  DispatcherWithSend,
  SocketMap,
  loop,
  type Address,
} from '../src/legacy/index.js';
import { startServer, type StreamHandler } from '../src/modern/index.js';
import { asDispatcherClass, asStreamHandler } from '../src/adapter/index.js';
import { startMixedServer, upstream } from '../src/adapter/index.js';
import { channels } from '../src/_core/observe.js';

/** A started benchmark server. */
export interface RunningServer {
  port: number;
  close(): Promise<void>;
  /** Rows with diagnostics subscribers: how many channel messages they have received. */
  channelMessages?(): number;
}

/** A benchmark row: how to start the server, and what it is compared with. */
export interface ServerRow {
  /** Short description printed in the table. */
  description: string;
  /** The reference row this one is compared with (`undefined` for a reference itself). */
  reference?: string;
  /** The largest acceptable ratio of server CPU per message against the reference. */
  target?: number;
  /** Only in the scale rows (bench/scale.ts), not in the main table. */
  scaleOnly?: boolean;
  /** Clients must send a PROXY protocol header of this version first, once per connection. */
  proxyHeader?: 'v1';
  /** Further targets against other rows, checked and printed below the table. */
  alsoAgainst?: { reference: string; target: number }[];
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

/**
 * One connection of the async floor: its `run()` awaits one promise per chunk, resolved by the
 * socket's `'data'` (`null`: the end); chunks that come while no read is pending wait in a queue
 * made on first use.
 */
class FloorConnection {
  readonly #socket: net.Socket;
  #wake: ((chunk: Buffer | null) => void) | undefined = undefined;
  #queued: (Buffer | null)[] | undefined = undefined;

  constructor(socket: net.Socket) {
    this.#socket = socket;
  }

  put(chunk: Buffer | null): void {
    const resolve = this.#wake;
    this.#wake = undefined;
    if (resolve !== undefined) resolve(chunk);
    else (this.#queued ??= []).push(chunk);
  }

  async run(): Promise<void> {
    try {
      for (let chunk = await this.#read(); chunk !== null; chunk = await this.#read()) {
        this.#socket.write(chunk);
      }
      this.#socket.end();
    } catch {
      this.#socket.destroy();
    }
  }

  #read(): Buffer | null | Promise<Buffer | null> {
    const queued = this.#queued;
    if (queued !== undefined && queued.length > 0) return queued.shift()!;
    return new Promise((resolve) => (this.#wake = resolve));
  }
}

const ignore = (): void => undefined;

/**
 * The least an await-style handler holds, on raw `node:net`: one async function per connection
 * that awaits one promise per chunk, and the reaction that learns when it ends. No library code:
 * what a waiting modern handler costs by construction (its suspended frame, the pending read and
 * its resolving functions, the runner's reaction), for the idle and scale rows to compare with.
 */
function asyncFloorEcho(): Promise<RunningServer> {
  const server = net.createServer((socket) => {
    const connection = new FloorConnection(socket);
    socket.on('data', (chunk: Buffer) => connection.put(chunk));
    socket.on('end', () => connection.put(null));
    socket.on('error', () => socket.destroy());
    connection.run().then(undefined, ignore);
  });
  return listen(server);
}

/** Starts a legacy listening dispatcher whose accepted connections are `Handler`s, plus its loop. */
async function legacyServer(
  accept: (socket: Duplex, map: SocketMap) => void,
): Promise<RunningServer> {
  const map = new SocketMap();
  class Listener extends Dispatcher {
    override handleAccepted(socket: Duplex): void {
      accept(socket, map);
    }
  }
  const listener = new Listener({ map });
  listener.bind({ host: '127.0.0.1', port: 0 });
  // The accept queue the loop drains: the scale rows open 10,000 connections in a burst, and a
  // legacy listener refuses connections beyond its backlog (the kernel's is capped by somaxconn).
  await listener.listen(16_384);
  const running = loop({ map, timeout: 1_000 });
  const { port } = listener.address() as Extract<Address, { port: number }>;
  return {
    port,
    close: async () => {
      map.closeAll();
      await running;
    },
  };
}

/** asyncore's echo: `handleRead()` → `recv()` → `send()`, partial sends buffered. */
class RecvSendEcho extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(65536);
    if (data.length > 0) this.send(data);
  }
}

/** asynchat's line echo: terminator "\n", `collectIncomingData` + `foundTerminator` + `push`. */
class LineEchoChat extends AsyncChat {
  #parts: Buffer[] = [];
  constructor(socket: Duplex, map: SocketMap) {
    super({ socket, map });
    this.setTerminator('\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }
  override foundTerminator(): void {
    const line = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    // Emptied, not replaced: at 10,000 connections a new array per message lives until the
    // connection's next message, so scavenges promote it, and once dead in the old generation it
    // still keeps what it pointed to alive through the next scavenge (measured with
    // --trace-gc-nvp: 485 → 125 B promoted per message; the guide's cost page explains).
    this.#parts.length = 0;
    this.push(line);
    this.push('\n');
  }
}

/** asyncio's line echo: `readLine()` → `write()`, `drain()` only when the transport is congested. */
const lineEchoHandler: StreamHandler = async (reader, writer) => {
  for (;;) {
    const line = await reader.readLine();
    if (line.length === 0) return;
    writer.write(line);
    await writer.drain();
  }
};

/** The same, as the README writes it: `{ signal }` on every read and drain. */
const signalLineEchoHandler: StreamHandler = async (reader, writer, { signal }) => {
  for (;;) {
    const line = await reader.readLine({ signal });
    if (line.length === 0) return;
    writer.write(line);
    await writer.drain({ signal });
  }
};

/** Chunk echo over `reader.chunks()`. */
const chunkEchoHandler: StreamHandler = async (reader, writer) => {
  for await (const chunk of reader.chunks()) {
    writer.write(chunk);
    await writer.drain();
  }
};

async function modernServer(
  handler: StreamHandler,
  options: { proxyProtocol?: 'v1' } = {},
): Promise<RunningServer> {
  const server = await startServer(handler, {
    host: '127.0.0.1',
    port: 0,
    backlog: 511,
    ...options,
  });
  const address = server.address() as { port: number };
  return { port: address.port, close: () => server.shutdown({ timeout: 1_000 }) };
}

/** The AsyncChat line echo with the `{ socket, map }` constructor that asStreamHandler() calls. */
class LineEchoHandler extends LineEchoChat {
  constructor(options: { socket: Duplex; map: SocketMap }) {
    super(options.socket, options.map);
  }
}

/** The readLine echo handler as a Dispatcher class, for a legacy listener. */
const LineEchoConnection = asDispatcherClass(lineEchoHandler);

/** One port, half the connections to the legacy echo and half to the modern one. */
async function mixedServer(
  options: { proxyProtocol?: 'v1'; byFirstByte?: boolean } = {},
): Promise<RunningServer> {
  const { byFirstByte = false, ...rest } = options;
  const server = await startMixedServer({
    legacy: RecvSendEcho,
    modern: chunkEchoHandler,
    // By first byte, the load client knows which half each connection is in (bench/native's
    // client starts even-numbered connections' lines with "L", odd ones' with "M").
    route: byFirstByte
      ? {
          by: 'sniff',
          bytes: 1,
          choose: (head) => (head[0] === 0x4c ? 'legacy' : 'modern'),
          // The client opens every connection, then sends first when the segments start: at
          // 10,000 connections that is well after the default 1 s, which would route almost
          // every connection by an empty head (to modern) instead of in halves.
          timeout: 600_000,
        }
      : { by: 'fraction', modern: 0.5 },
    host: '127.0.0.1',
    port: 0,
    backlog: 511,
    ...rest,
  });
  const address = server.address() as { port: number };
  return { port: address.port, close: () => server.shutdown({ timeout: 1_000 }) };
}

/** The names of every diagnostics channel of the library (DESIGN's "Observability"). */
export const channelNames = Object.values(channels).map((channel) => String(channel.name));

/**
 * `start` with a subscriber on every `dispatch-bridge:*` channel (each message counted), removed
 * again by `close()`: what observing a server costs, against the same row unobserved.
 */
async function observed(start: () => Promise<RunningServer>): Promise<RunningServer> {
  let messages = 0;
  const subscriber = (): void => {
    messages += 1;
  };
  for (const name of channelNames) diagnostics.subscribe(name, subscriber);
  const unsubscribe = (): void => {
    for (const name of channelNames) diagnostics.unsubscribe(name, subscriber);
  };
  try {
    const server = await start();
    return {
      port: server.port,
      close: async () => {
        await server.close();
        unsubscribe();
      },
      channelMessages: () => messages,
    };
  } catch (error) {
    unsubscribe();
    throw error;
  }
}

/** Starts the upstream echo in its own process; resolves with its port and a stop function. */
async function upstreamEcho(): Promise<{ port: number; stop(): void }> {
  // The TypeScript register, whatever process (bench child, mocha) starts the row.
  const register = new URL('./register/index.mjs', import.meta.url).href;
  const child = fork(new URL('./upstream-echo.ts', import.meta.url), [], {
    execArgv: ['--import', register],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`upstream echo exited with ${code}`)));
  });
  return { port, stop: () => child.kill() };
}

/** The reference proxy: raw node:net, `client.pipe(upstream).pipe(client)`. */
async function netPipeProxy(): Promise<RunningServer> {
  const echo = await upstreamEcho();
  const server = net.createServer((client) => {
    const target = net.connect({ host: '127.0.0.1', port: echo.port, noDelay: true });
    client.setNoDelay(true);
    client.pipe(target).pipe(client);
    client.on('error', () => target.destroy());
    target.on('error', () => client.destroy());
  });
  const running = await listen(server);
  return {
    port: running.port,
    async close() {
      await running.close();
      echo.stop();
    },
  };
}

/** The mixed server as a transparent proxy: `legacy: upstream(...)`, route 'legacy'. */
async function upstreamProxy(): Promise<RunningServer> {
  const echo = await upstreamEcho();
  const server = await startMixedServer({
    legacy: upstream({ host: '127.0.0.1', port: echo.port }),
    modern: chunkEchoHandler,
    route: 'legacy',
    host: '127.0.0.1',
    port: 0,
  });
  return {
    port: (server.address() as { port: number }).port,
    async close() {
      await server.shutdown({ timeout: 0 });
      echo.stop();
    },
  };
}

/** Every row, in the order the table prints them. */
export const serverRows: Record<string, ServerRow> = {
  'raw net': {
    description: "raw node:net echo, socket.on('data') → write",
    start: rawNetEcho,
  },
  'async floor': {
    description: 'raw node:net echo by one async function per connection awaiting each chunk',
    reference: 'raw net',
    scaleOnly: true,
    start: asyncFloorEcho,
  },
  'for await': {
    description: 'raw node:net echo, for await (const chunk of socket) + drain',
    reference: 'raw net',
    start: forAwaitEcho,
  },
  'legacy Dispatcher': {
    description: 'DispatcherWithSend echo: handleRead → recv → send, in loop()',
    reference: 'raw net',
    target: 1.25,
    start: () => legacyServer((socket, map) => new RecvSendEcho({ socket, map })),
  },
  'legacy AsyncChat': {
    description: 'AsyncChat line echo: setTerminator("\\n") → foundTerminator → push',
    reference: 'raw net',
    target: 1.25,
    start: () => legacyServer((socket, map) => new LineEchoChat(socket, map)),
  },
  'modern readLine': {
    description: 'startServer line echo: readLine → write → drain',
    reference: 'raw net',
    target: 1.25,
    start: () => modernServer(lineEchoHandler),
  },
  'modern readLine signal': {
    description: 'startServer line echo with { signal } on every readLine and drain',
    reference: 'modern readLine',
    target: 1.05,
    scaleOnly: true,
    start: () => modernServer(signalLineEchoHandler),
  },
  'modern chunks': {
    description: 'startServer chunk echo: for await (chunk of reader.chunks()) → write → drain',
    reference: 'raw net',
    target: 1.25,
    alsoAgainst: [{ reference: 'for await', target: 1 }],
    start: () => modernServer(chunkEchoHandler),
  },
  'legacy on modern': {
    description: 'asStreamHandler(AsyncChat line echo) on startServer',
    reference: 'raw net',
    target: 1.5,
    start: () => modernServer(asStreamHandler(LineEchoHandler)),
  },
  'modern on legacy': {
    description: 'asDispatcherClass(readLine echo handler) in a legacy listener + loop()',
    reference: 'raw net',
    target: 1.5,
    start: () => legacyServer((socket, map) => new LineEchoConnection({ socket, map })),
  },
  mixed: {
    description: 'startMixedServer: recv → send and chunk echo on one port, fraction 0.5 modern',
    reference: 'raw net',
    target: 1.5,
    start: () => mixedServer(),
  },
  'mixed halves': {
    description:
      'startMixedServer as mixed, routed by first byte ("L" legacy, else modern): the halves known',
    reference: 'raw net',
    target: 1.5,
    scaleOnly: true,
    start: () => mixedServer({ byFirstByte: true }),
  },
  'modern readLine proxy v1': {
    description: "modern readLine with proxyProtocol: 'v1', a PROXY header once per connection",
    reference: 'modern readLine',
    target: 1.05,
    scaleOnly: true,
    proxyHeader: 'v1',
    start: () => modernServer(lineEchoHandler, { proxyProtocol: 'v1' }),
  },
  'mixed proxy v1': {
    description: "mixed with proxyProtocol: 'v1', a PROXY header once per connection",
    reference: 'mixed',
    target: 1.05,
    scaleOnly: true,
    proxyHeader: 'v1',
    start: () => mixedServer({ proxyProtocol: 'v1' }),
  },
  'legacy AsyncChat observed': {
    description: 'legacy AsyncChat with a subscriber on every dispatch-bridge:* channel',
    reference: 'legacy AsyncChat',
    scaleOnly: true,
    start: () => observed(() => legacyServer((socket, map) => new LineEchoChat(socket, map))),
  },
  'modern readLine observed': {
    description: 'modern readLine with a subscriber on every dispatch-bridge:* channel',
    reference: 'modern readLine',
    scaleOnly: true,
    start: () => observed(() => modernServer(lineEchoHandler)),
  },
  'mixed observed': {
    description: 'mixed with a subscriber on every dispatch-bridge:* channel',
    reference: 'mixed',
    scaleOnly: true,
    start: () => observed(() => mixedServer()),
  },
  'net pipe proxy': {
    description:
      'raw node:net proxy to an echo in another process: client.pipe(upstream).pipe(client)',
    start: netPipeProxy,
  },
  'upstream proxy': {
    description: 'startMixedServer({ legacy: upstream(echo in another process) }) as a proxy',
    reference: 'net pipe proxy',
    target: 1.2,
    start: upstreamProxy,
  },
};
