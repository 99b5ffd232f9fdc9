// The five server styles the load and soak runs exercise, all speaking one line-echo protocol
// ("each line comes back unchanged"), and a line client. Shared by `npm run soak` and the short
// version in the test run (test/load).
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { asDispatcherClass, asStreamHandler, startMixedServer } from '../src/adapter/index.js';
import { AsyncChat, Dispatcher, SocketMap, loop, type Address } from '../src/legacy/index.js';
import { startServer, type StreamHandler, type StreamReader } from '../src/modern/index.js';

/** The ways a connection can be served. */
export const STYLES = [
  'legacy',
  'modern',
  'legacy-on-modern',
  'modern-on-legacy',
  'mixed',
] as const;

/** One of {@link STYLES}. */
export type Style = (typeof STYLES)[number];

/** What a server started by {@link startStyle} exposes to the load runs. */
export interface SoakServer {
  readonly style: Style;
  readonly port: number;
  /** Connections the server still tracks (open connections, dispatchers in its maps). */
  tracked(): number;
  /** Client connections the server serves now. */
  connections(): number;
  /** Listeners the server's own emitters hold (must not grow with the connection count). */
  listeners(): number;
  /**
   * Bytes received but not yet consumed by the handlers, summed over the open connections, as
   * far as they can be observed (socket buffers, readers' buffers).
   */
  buffered(): number;
  /** Largest {@link buffered} amount of one connection. */
  maxBufferedPerConnection(): number;
  /** Stops the server and waits until every connection and loop is gone. */
  close(): Promise<void>;
}

/** Options of {@link startStyle}. */
export interface StyleOptions {
  /** The handlers never read (legacy `readable()` false, modern reader never awaited). */
  slow?: boolean;
  /** The modern readers' `limit` (and the chats' `maxIncoming`). Default 65536. */
  limit?: number;
  /** The listen backlog. Default 1024. */
  backlog?: number;
}

const HOST = '127.0.0.1';

type Probe = () => number;

/** Probes of the bytes each connection holds; a connection's probes leave when it closes. */
class Probes {
  #byConnection = new Map<object, Probe[]>();
  add(connection: object, probe: Probe): void {
    const list = this.#byConnection.get(connection);
    if (list === undefined) this.#byConnection.set(connection, [probe]);
    else list.push(probe);
  }
  remove(connection: object): void {
    this.#byConnection.delete(connection);
  }
  get size(): number {
    return this.#byConnection.size;
  }
  total(): number {
    let sum = 0;
    for (const list of this.#byConnection.values()) for (const probe of list) sum += probe();
    return sum;
  }
  max(): number {
    let max = 0;
    for (const list of this.#byConnection.values()) {
      let sum = 0;
      for (const probe of list) sum += probe();
      max = Math.max(max, sum);
    }
    return max;
  }
}

function emitterListeners(emitter: {
  eventNames(): (string | symbol)[];
  listenerCount(name: string | symbol): number;
}): number {
  let count = 0;
  for (const name of emitter.eventNames()) count += emitter.listenerCount(name);
  return count;
}

/** The legacy line echo (asynchat's idiom), or, when `slow`, a chat that never reads. */
function lineChatClass(options: { slow: boolean; limit: number; probes: Probes }) {
  return class LineChat extends AsyncChat {
    #parts: Buffer[] = [];
    constructor(init: { socket: Duplex; map: SocketMap }) {
      super({ ...init, maxIncoming: options.limit });
      this.setTerminator('\n');
      const socket = init.socket;
      if (options.slow) options.probes.add(this, () => socket.readableLength);
    }
    override readable(): boolean {
      return !options.slow && super.readable();
    }
    override collectIncomingData(data: Buffer): void {
      this.#parts.push(data);
    }
    override foundTerminator(): void {
      const parts = this.#parts.splice(0);
      parts.push(NEWLINE);
      this.push(parts.length === 2 ? Buffer.concat(parts, parts[0]!.length + 1) : concat(parts));
    }
    override close(): void {
      options.probes.remove(this);
      super.close();
    }
    override logInfo(): void {}
  };
}

const NEWLINE = Buffer.from('\n');
const concat = (parts: Buffer[]): Buffer => Buffer.concat(parts);

/** The modern line echo, or, when `slow`, a handler that never reads until its connection ends. */
function lineHandler(options: { slow: boolean; probes: Probes }): StreamHandler {
  if (options.slow) {
    return async (reader, writer, context) => {
      // One key per connection: asDispatcherClass() adds its socket's probe under it too.
      const key = context;
      options.probes.add(key, () => reader.bufferedLength);
      const socket = writer.getExtraInfo('socket');
      if (socket instanceof net.Socket) options.probes.add(key, () => socket.readableLength);
      try {
        await new Promise<void>((resolve) => {
          if (context.signal.aborted) resolve();
          else context.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      } finally {
        options.probes.remove(key);
      }
    };
  }
  return async (reader, writer) => {
    for await (const line of reader) {
      writer.write(line);
      await writer.drain();
    }
  };
}

/** Wraps a stream handler so that its reader's buffer is probed while it runs. */
function probed(handler: StreamHandler, probes: Probes, slow: boolean): StreamHandler {
  if (!slow) return handler;
  return async (reader: StreamReader, writer, context) => {
    const key = {};
    probes.add(key, () => reader.bufferedLength);
    try {
      await handler(reader, writer, context);
    } finally {
      probes.remove(key);
    }
  };
}

/** A legacy listening dispatcher whose accepted sockets become `Connection`s. */
async function legacyListener(
  map: SocketMap,
  backlog: number,
  accepted: (socket: Duplex, map: SocketMap) => void,
): Promise<Dispatcher> {
  class Listener extends Dispatcher {
    override handleAccepted(socket: Duplex): void {
      accepted(socket, this.map);
    }
    override logInfo(): void {}
  }
  const listener = new Listener({ map });
  listener.setReuseAddr();
  listener.bind({ host: HOST, port: 0 });
  await listener.listen(backlog);
  return listener;
}

function portOf(address: Address | null): number {
  if (address === null || !('port' in address)) throw new Error('Cannot get the port: no address');
  return address.port;
}

/**
 * Starts a line-echo server of the given style on 127.0.0.1 (a free port).
 *
 * @example
 * ```ts
 * const server = await startStyle('mixed');
 * // ... connect to server.port
 * await server.close();
 * ```
 */
export async function startStyle(style: Style, options: StyleOptions = {}): Promise<SoakServer> {
  const slow = options.slow ?? false;
  const limit = options.limit ?? 65536;
  const backlog = options.backlog ?? 1024;
  const probes = new Probes();
  const LineChat = lineChatClass({ slow, limit, probes });
  const handler = lineHandler({ slow, probes });
  const common = {
    style,
    buffered: () => probes.total(),
    maxBufferedPerConnection: () => probes.max(),
  };

  switch (style) {
    case 'legacy':
    case 'modern-on-legacy': {
      const map = new SocketMap();
      const Connection = asDispatcherClass(handler, { limit });
      const listener = await legacyListener(map, backlog, (socket, connectionMap) => {
        if (style === 'legacy') {
          new LineChat({ socket, map: connectionMap });
          return;
        }
        const connection = new Connection({ socket, map: connectionMap });
        if (slow) {
          probes.add(connection.context, () => socket.readableLength);
          connection.once('close', () => probes.remove(connection.context));
        }
      });
      const running = loop({ map });
      return {
        ...common,
        port: portOf(listener.address()),
        tracked: () => map.size - 1,
        connections: () => map.size - 1,
        listeners: () =>
          emitterListeners(listener) + (listener.server?.listenerCount('connection') ?? 0),
        async close() {
          map.closeAll();
          await running;
        },
      };
    }
    case 'modern':
    case 'legacy-on-modern': {
      const map = new SocketMap();
      const served =
        style === 'modern' ? handler : probed(asStreamHandler(LineChat, { map }), probes, slow);
      const server = await startServer(served, { host: HOST, port: 0, limit, backlog });
      return {
        ...common,
        port: portOf(server.address()),
        tracked: () => server.connections + map.size,
        connections: () => server.connections,
        listeners: () => emitterListeners(server),
        async close() {
          await server.shutdown({ timeout: 0 });
          map.closeAll();
        },
      };
    }
    case 'mixed': {
      const server = await startMixedServer({
        legacy: LineChat,
        modern: handler,
        // Without `random` the split is exact: every other connection is modern.
        route: { by: 'fraction', modern: 0.5 },
        host: HOST,
        port: 0,
        limit,
        backlog,
      });
      return {
        ...common,
        port: portOf(server.address()),
        tracked: () => server.connections + server.map.size + server.lingeringShadows,
        connections: () => server.connections,
        listeners: () => emitterListeners(server),
        async close() {
          await server.shutdown({ timeout: 0 });
        },
      };
    }
  }
}

/**
 * A client of the line-echo protocol: one request at a time.
 *
 * @example
 * ```ts
 * const client = await LineClient.connect(server.port);
 * await client.request('hello'); // 'hello'
 * await client.close();
 * ```
 */
export class LineClient {
  readonly socket: net.Socket;
  #pending = '';
  #waiting: ((line: string) => void) | null = null;
  #lines: string[] = [];
  #failed: Error | null = null;
  #closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => this.#onData(text));
    socket.on('error', (error) => (this.#failed = error));
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connects to 127.0.0.1:`port`. */
  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: HOST, port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new LineClient(socket));
      });
    });
  }

  #onData(text: string): void {
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n', start);
      if (end === -1) break;
      const line = this.#pending + text.slice(start, end);
      this.#pending = '';
      start = end + 1;
      const waiting = this.#waiting;
      if (waiting !== null) {
        this.#waiting = null;
        waiting(line);
      } else this.#lines.push(line);
    }
    this.#pending += text.slice(start);
  }

  /** Sends `line` (without "\n") and resolves with the next line received. */
  request(line: string): Promise<string> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    this.socket.write(`${line}\n`);
    const ready = this.#lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#closed.then(
        () => reject(this.#failed ?? new Error(`Cannot receive a reply: connection closed`)),
        reject,
      );
    });
  }

  /** Half-closes and waits until the server closes too. */
  async close(): Promise<void> {
    this.socket.end();
    await this.#closed;
  }

  /** Resets the connection. */
  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Open file descriptors of this process (Linux: entries of /proc/self/fd).
 *
 * @example
 * ```ts
 * const before = await openFds(); // ... open and close sockets
 * assert.equal(await openFds(), before);
 * ```
 */
export async function openFds(): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir('/proc/self/fd')).length;
}

/** The process's active resources (handles, timers), counted per type. */
export function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/** Listeners registered on `process` (the library must not leave any behind). */
export function processListeners(): number {
  return emitterListeners(process);
}

/**
 * Ping-pong: opens `connections` clients (at most `opening` connects in flight), then each sends
 * `messages` lines one after the other and checks every reply. Resolves with the counts.
 *
 * @example
 * ```ts
 * await pingPong(server.port, { connections: 1000, messages: 20 });
 * // { replies: 20000, wrong: 0, lost: 0, peak: 1000 }
 * ```
 */
export async function pingPong(
  port: number,
  options: { connections: number; messages: number; opening?: number },
): Promise<{ replies: number; wrong: number; lost: number; peak: number }> {
  const clients: LineClient[] = [];
  const opening = options.opening ?? 100;
  let replies = 0;
  let wrong = 0;
  let lost = 0;
  try {
    for (let i = 0; i < options.connections; i += opening) {
      const batch = Math.min(opening, options.connections - i);
      const opened = await Promise.all(
        Array.from({ length: batch }, () => LineClient.connect(port)),
      );
      clients.push(...opened);
    }
    const peak = clients.length;
    await Promise.all(
      clients.map(async (client, c) => {
        for (let m = 0; m < options.messages; m++) {
          // Mostly short lines; one in ten spans several TCP segments.
          const pad = (c + m) % 10 === 9 ? 20_000 + c : (c + m) % 50;
          const line = `c${c}-m${m}-${'x'.repeat(pad)}`;
          try {
            const reply = await client.request(line);
            if (reply === line) replies++;
            else wrong++;
          } catch {
            lost += options.messages - m;
            return;
          }
        }
      }),
    );
    await Promise.all(clients.map((client) => client.close()));
    return { replies, wrong, lost, peak };
  } finally {
    for (const client of clients) client.destroy();
  }
}

/**
 * Connect/close cycles: `cycles` times (at most `parallel` at once) connect, one request, close.
 * Resolves with how many cycles got the right reply.
 *
 * @example
 * ```ts
 * await connectCloseCycles(server.port, { cycles: 20_000, parallel: 50 }); // 20000
 * ```
 */
export async function connectCloseCycles(
  port: number,
  options: { cycles: number; parallel?: number },
): Promise<number> {
  const parallel = Math.min(options.parallel ?? 20, options.cycles);
  let next = 0;
  let good = 0;
  async function worker(): Promise<void> {
    while (next < options.cycles) {
      const n = next++;
      const client = await LineClient.connect(port);
      try {
        if ((await client.request(`cycle ${n}`)) === `cycle ${n}`) good++;
        await client.close();
      } finally {
        client.destroy();
      }
    }
  }
  await Promise.all(Array.from({ length: parallel }, () => worker()));
  return good;
}
