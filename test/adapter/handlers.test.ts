import { expect } from 'chai';
import { getEventListeners, once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import type { Duplex } from 'node:stream';
import { asDispatcherClass, asStreamHandler } from '../../src/adapter/index.js';
import {
  AsyncChat,
  Dispatcher,
  DispatcherWithSend,
  SocketMap,
  loop,
  type Address,
} from '../../src/legacy/index.js';
import {
  ConnectionClosedError,
  TimeoutError,
  fromDuplex,
  openConnection,
  startServer,
  type ConnectionContext,
  type Server,
  type StreamHandler,
  type StreamReader,
} from '../../src/modern/index.js';
import { pattern } from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { useSocketMap } from '../helpers/socket-map-fixture.js';
import { cert, key } from '../helpers/tls-fixtures.js';
import { collect, connectClient, eventually, listenOn, readBytes } from '../legacy/_support.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Writes `total` bytes of `unit` repeated to `stream`, respecting 'drain'. */
async function pumpRepeated(stream: Duplex, unit: Buffer, total: number): Promise<void> {
  for (let sent = 0; sent < total; sent += unit.length) {
    if (!stream.write(unit)) await once(stream, 'drain');
  }
}

function manualContext(): { context: ConnectionContext; controller: AbortController } {
  const controller = new AbortController();
  return {
    controller,
    context: { signal: controller.signal, id: 1, remoteAddress: { path: '' } },
  };
}

/** The legacy echo every asStreamHandler test starts from; counts closes, records errors. */
class Echo extends DispatcherWithSend {
  static instances: Echo[] = [];
  closes = 0;
  errors: unknown[] = [];
  constructor(options: { socket: Duplex; map: SocketMap }) {
    super(options);
    Echo.instances.push(this);
  }
  override handleRead(): void {
    const data = this.recv(65536);
    if (data.length === 0) return;
    if (data.includes('boom')) throw new Error('boom');
    this.send(data);
  }
  override handleClose(): void {
    this.closes++;
    this.close();
  }
  override handleError(error: unknown): void {
    this.errors.push(error);
    super.handleError(error);
  }
  override logInfo(): void {}
}

describe('asStreamHandler()', () => {
  const cleanup: Array<() => void | Promise<void>> = [];

  beforeEach(() => {
    Echo.instances = [];
  });

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function serve(handler: StreamHandler): Promise<{ server: Server; port: number }> {
    const server = await startServer(handler, { host: '127.0.0.1', port: 0 });
    cleanup.push(() => server.shutdown({ timeout: 1_000 }));
    const { port } = server.address() as { port: number };
    return { server, port };
  }

  async function client(port: number): Promise<net.Socket> {
    const socket = await connectClient({ host: '127.0.0.1', port });
    cleanup.push(() => void socket.destroy());
    return socket;
  }

  it('serves startServer connections with an unmodified DispatcherWithSend echo (1 MiB intact)', async () => {
    const { port } = await serve(asStreamHandler(Echo));
    const socket = await client(port);
    const data = pattern(1024 * 1024);
    const echoed = readBytes(socket, data.length);
    socket.write(data);
    expect((await echoed).equals(data)).to.equal(true);
  });

  it('serves a TLS server too: the legacy handler sees plaintext', async () => {
    const server = await startServer(asStreamHandler(Echo), {
      host: '127.0.0.1',
      port: 0,
      tls: { key, cert },
    });
    cleanup.push(() => server.shutdown({ timeout: 1_000 }));
    const { port } = server.address() as { port: number };
    const { reader, writer } = await openConnection({ host: 'localhost', port, tls: { ca: cert } });
    cleanup.push(() => writer.abort());
    writer.write('over tls\n');
    expect((await reader.readLine()).toString()).to.equal('over tls\n');
    writer.close();
    await writer.waitClosed();
    await eventually(() => (Echo.instances[0]?.closed ? true : undefined));
    expect(Echo.instances[0]?.closes).to.equal(1);
  });

  it('handlers of one server share a map, so an AsyncChat can broadcast as in asyncore', async () => {
    class Broadcast extends AsyncChat {
      #parts: Buffer[] = [];
      constructor(options: { socket: Duplex; map: SocketMap }) {
        super(options);
        this.setTerminator('\n');
      }
      override collectIncomingData(data: Buffer): void {
        this.#parts.push(data);
      }
      override foundTerminator(): void {
        const line = Buffer.concat(this.#parts.splice(0));
        for (const other of this.map) {
          if (other !== this && other instanceof Broadcast)
            other.push(Buffer.concat([line, Buffer.from('\n')]));
        }
      }
      override logInfo(): void {}
    }
    const map = new SocketMap();
    const { server, port } = await serve(asStreamHandler(Broadcast, { map }));
    const alice = await client(port);
    const bob = await client(port);
    await eventually(() => (map.size === 2 ? true : undefined));
    expect(server.connections).to.equal(2);
    const heard = readBytes(bob, 6);
    alice.write('hello\n');
    expect((await heard).toString()).to.equal('hello\n');
  });

  it("the peer's end-of-stream reaches handleClose() once, then the handler resolves and the loop ends", async () => {
    const map = new SocketMap();
    const inner = asStreamHandler(Echo, { map });
    let settled!: () => void;
    const handlerDone = new Promise<void>((resolve) => (settled = resolve));
    const { server, port } = await serve(async (reader, writer, context) => {
      await inner(reader, writer, context);
      settled();
    });
    const socket = await client(port);
    const received = collect(socket);
    socket.end('last words');
    expect((await received).toString()).to.equal('last words');
    await handlerDone;
    const [echo] = Echo.instances;
    expect(echo?.closes).to.equal(1);
    expect(echo?.errors).to.deep.equal([]);
    expect(map.size).to.equal(0);
    await eventually(() => (!map.looping && server.connections === 0 ? true : undefined));
  });

  it('replays bytes the reader already buffered, over an in-memory duplex pair', async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    const { reader, writer } = fromDuplex(end);
    peer.write('early bytes');
    await eventually(() => (reader.bufferedLength > 0 ? true : undefined));
    const { context } = manualContext();
    const done = asStreamHandler(Echo)(reader, writer, context);
    const echoed = collect(peer);
    peer.end();
    await done;
    expect((await echoed).toString()).to.equal('early bytes');
    expect(Echo.instances[0]?.closes).to.equal(1);
    expect(getEventListeners(context.signal, 'abort')).to.have.length(0);
  });

  it('an error in the legacy handler goes to its handleError() and closes only its connection', async () => {
    const { server, port } = await serve(asStreamHandler(Echo));
    const serverErrors: unknown[] = [];
    server.on('error', (error) => serverErrors.push(error));
    const bad = await client(port);
    const good = await client(port);
    const badEnd = collect(bad);
    bad.write('boom');
    await badEnd;
    const echoed = readBytes(good, 5);
    good.write('still');
    expect((await echoed).toString()).to.equal('still');
    const failed = Echo.instances.find((echo) => echo.errors.length > 0);
    expect((failed?.errors[0] as Error).message).to.equal('boom');
    expect(failed?.closed).to.equal(true);
    expect(Echo.instances.filter((echo) => echo.closed)).to.have.length(1);
    expect(serverErrors).to.deep.equal([]);
  });

  it('a constructor that throws rejects the stream handler, which the server reports', async () => {
    class Broken extends Dispatcher {
      constructor(options: { socket: Duplex; map: SocketMap }) {
        super(options);
        throw new Error('cannot construct');
      }
    }
    const map = new SocketMap();
    const { server, port } = await serve(asStreamHandler(Broken, { map }));
    const reported = new Promise<unknown>((resolve) => server.once('error', resolve));
    const socket = await client(port);
    const error = (await reported) as Error;
    expect(error.message).to.equal('cannot construct');
    await once(socket, 'close');
    // The half-built dispatcher had joined the map; it was closed and left it.
    expect(map.size).to.equal(0);
  });

  it('context.signal aborting closes the dispatcher (once)', async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    const { reader, writer } = fromDuplex(end);
    const { context, controller } = manualContext();
    const done = asStreamHandler(Echo)(reader, writer, context);
    const ended = collect(peer);
    controller.abort(new Error('stop'));
    await done;
    await ended;
    expect(Echo.instances[0]?.closes).to.equal(1);
    expect(Echo.instances[0]?.closed).to.equal(true);
  });

  it("a failure on the modern side (an idle timeout) reaches the legacy handler's handleError()", async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    const peerError = once(peer, 'error');
    const { reader, writer } = fromDuplex(end);
    const { context } = manualContext();
    const done = asStreamHandler(Echo)(reader, writer, context);
    await eventually(() => (Echo.instances.length === 1 ? true : undefined));
    const timeout = new TimeoutError(10, 'Connection idle for 10 ms');
    reader.setException(timeout);
    await done;
    expect(Echo.instances[0]?.errors).to.deep.equal([timeout]);
    expect(Echo.instances[0]?.closes).to.equal(1);
    // The connection was cut (a reset), as the server does on an idle timeout.
    const [error] = (await peerError) as [NodeJS.ErrnoException];
    expect(error.code).to.equal('ECONNRESET');
  });

  it('gives the handler a socket that looks like a net.Socket (remoteAddress, address())', async () => {
    let seen: { remote?: string; port?: number; local: Address | null } | undefined;
    class Peek extends Echo {
      constructor(options: { socket: Duplex; map: SocketMap }) {
        super(options);
        const socket = options.socket as Duplex & { remoteAddress?: string; remotePort?: number };
        seen = { remote: socket.remoteAddress, port: socket.remotePort, local: this.address() };
      }
    }
    const { port } = await serve(asStreamHandler(Peek));
    const socket = await client(port);
    await eventually(() => seen);
    expect(seen?.remote).to.equal('127.0.0.1');
    expect(seen?.port).to.equal(socket.localPort);
    expect(seen?.local).to.deep.equal({ host: '127.0.0.1', port, family: 'IPv4' });
  });

  it('keeps buffers bounded when a peer sends 64 MiB to a slow legacy handler', async () => {
    const total = 64 * 1024 * 1024;
    let reader: StreamReader | undefined;
    let received = 0;
    let maxReader = 0;
    let maxSocket = 0;
    class Slow extends Dispatcher {
      override handleRead(): void {
        maxReader = Math.max(maxReader, reader?.bufferedLength ?? 0);
        maxSocket = Math.max(maxSocket, this.socket?.readableLength ?? 0);
        received += this.recv(32 * 1024).length;
      }
      override writable(): boolean {
        return false;
      }
      override logInfo(): void {}
    }
    const inner = asStreamHandler(Slow);
    const { port } = await serve((r, w, c) => {
      reader = r;
      return inner(r, w, c);
    });
    const socket = await client(port);
    await pumpRepeated(socket, Buffer.alloc(64 * 1024, 7), total);
    socket.end();
    await eventually(() => (received === total ? true : undefined), 100_000);
    // The reader pauses the socket above 2 × limit (65536); the Duplex holds its high-water mark.
    expect(maxReader).to.be.at.most(2 * 65536 + 65536);
    expect(maxSocket).to.be.at.most(65536 + 65536);
    // The handler was the bottleneck: the buffers did fill up.
    expect(maxReader + maxSocket).to.be.at.least(65536);
  });

  it('a legacy handler that sends only what send() takes is held back by a peer that does not read', async () => {
    const [peer, end] = duplexPair({ highWaterMark: 16 * 1024 });
    peer.pause();
    const { reader, writer } = fromDuplex(end);
    const chunk = pattern(8 * 1024);
    const total = 4 * 1024 * 1024;
    let produced = 0;
    class Producer extends Dispatcher {
      override readable(): boolean {
        return false;
      }
      override writable(): boolean {
        return produced < total;
      }
      override handleWrite(): void {
        const sent = this.send(chunk.subarray(produced % chunk.length));
        produced += sent;
        if (produced === total) this.close();
      }
      override logInfo(): void {}
    }
    const { context } = manualContext();
    const done = asStreamHandler(Producer)(reader, writer, context);
    await eventually(() => (produced > 0 ? true : undefined));
    for (let i = 0; i < 200; i++) await turn();
    // Stalled far below the total: the Duplex, the writer and the pair hold a few high-water marks.
    expect(produced).to.be.at.most(256 * 1024);
    expect(writer.bufferedLength).to.be.at.most(128 * 1024);
    const got = await readBytes(peer, total);
    await done;
    expect(produced).to.equal(total);
    for (let offset = 0; offset < total; offset += chunk.length) {
      if (!got.subarray(offset, offset + chunk.length).equals(chunk)) {
        expect.fail(`bytes differ at ${offset}`);
      }
    }
  });

  it('rejects what is not a class, and a bad option', () => {
    expect(() => asStreamHandler('Echo' as unknown as typeof Echo)).to.throw(
      TypeError,
      'Expected `HandlerClass` to be a Dispatcher class, got `Echo` (string)',
    );
    expect(() => asStreamHandler(Echo, { highWaterMark: -1 })).to.throw(
      RangeError,
      'Expected `highWaterMark` to be a positive integer, got `-1` (number)',
    );
    expect(() => asStreamHandler(Echo, { map: {} as SocketMap })).to.throw(
      TypeError,
      'Expected `map` to be a SocketMap',
    );
  });
});

describe('asDispatcherClass()', () => {
  const fixture = useSocketMap();

  /** A legacy listener whose accepted sockets become `Connection`s, with the loop running. */
  async function listen<T extends Dispatcher>(
    Connection: new (options: { socket: Duplex; map: SocketMap }) => T,
  ): Promise<{ port: number; accepted: T[] }> {
    const { server, port } = await listenOn(
      fixture.map,
      (socket, map) => new Connection({ socket, map }),
    );
    fixture.running = loop({ map: fixture.map });
    return { port, accepted: server.accepted };
  }

  async function client(port: number): Promise<net.Socket> {
    const socket = await connectClient({ host: '127.0.0.1', port });
    fixture.cleanup.push(() => socket.destroy());
    return socket;
  }

  const lineEcho: StreamHandler = async (reader, writer) => {
    for await (const line of reader) {
      if (line.toString() === 'boom\n') throw new Error('boom');
      writer.write(line);
      await writer.drain();
    }
  };

  function tracked(handler: StreamHandler, options?: Parameters<typeof asDispatcherClass>[1]) {
    return class Tracked extends asDispatcherClass(handler, options) {
      closes = 0;
      errors: unknown[] = [];
      override handleClose(): void {
        this.closes++;
        this.close();
      }
      override handleError(error: unknown): void {
        this.errors.push(error);
        super.handleError(error);
      }
      override logInfo(): void {}
    };
  }

  it('serves connections accepted by a legacy listener, several at once', async () => {
    const { port, accepted } = await listen(tracked(lineEcho));
    const sockets = await Promise.all([client(port), client(port), client(port)]);
    const replies = sockets.map((socket, i) => {
      const reply = readBytes(socket, 12);
      socket.write(`client ${i}\nok\n`.padEnd(12, '.'));
      return reply;
    });
    for (const [i, reply] of replies.entries()) {
      expect((await reply).toString()).to.equal(`client ${i}\nok\n`.padEnd(12, '.'));
    }
    expect(accepted.map((connection) => connection.context.id).sort()).to.deep.equal([1, 2, 3]);
    for (const connection of accepted) {
      expect(connection.context.remoteAddress).to.deep.include({ host: '127.0.0.1' });
    }
  });

  it("keeps the peer's address in the context only: the socket holds no copy of Node's", async () => {
    const { port, accepted } = await listen(tracked(lineEcho));
    const socket = await client(port);
    const connection = await eventually(() => accepted[0]);
    const own = connection.socket as Duplex & { _peername?: unknown };
    expect(own._peername).to.equal(undefined);
    expect(connection.context.remoteAddress).to.deep.equal({
      host: '127.0.0.1',
      port: socket.localPort,
      family: 'IPv4',
    });
  });

  it('closes the connection once the handler returns, after sending what it queued', async () => {
    const data = pattern(1024 * 1024);
    const { port, accepted } = await listen(
      tracked((_reader, writer) => {
        writer.write(data);
      }),
    );
    const socket = await client(port);
    const received = await collect(socket);
    expect(received.equals(data)).to.equal(true);
    await eventually(() => (accepted[0]?.closed ? true : undefined));
    expect(accepted[0]?.closes).to.equal(1);
    expect(accepted[0]?.errors).to.deep.equal([]);
  });

  it("a rejection goes to that connection's handleError() and 'error' event; others go on", async () => {
    const { port, accepted } = await listen(tracked(lineEcho));
    const bad = await client(port);
    const good = await client(port);
    await eventually(() => (accepted.length === 2 ? true : undefined));
    const badConnection = accepted[0]!;
    const events: unknown[] = [];
    badConnection.on('error', (error) => events.push(error));
    const badEnd = collect(bad);
    bad.write('fine\nboom\n');
    expect((await badEnd).toString()).to.equal('fine\n');
    const echoed = readBytes(good, 6);
    good.write('alive\n');
    expect((await echoed).toString()).to.equal('alive\n');
    expect(badConnection.errors).to.have.length(1);
    expect((badConnection.errors[0] as Error).message).to.equal('boom');
    expect(events).to.deep.equal(badConnection.errors);
    expect(badConnection.closes).to.equal(1);
    expect(accepted[1]?.closed).to.equal(false);
    expect(accepted[1]?.errors).to.deep.equal([]);
  });

  it('aborts context.signal when the connection closes; a rejection with its reason is not reported', async () => {
    let seenReason: unknown;
    const { port, accepted } = await listen(
      tracked(
        (_reader, _writer, context) =>
          new Promise<void>((_resolve, reject) => {
            context.signal.addEventListener('abort', () => {
              seenReason = context.signal.reason;
              reject(context.signal.reason as Error);
            });
          }),
      ),
    );
    const socket = await client(port);
    await eventually(() => (accepted.length === 1 ? true : undefined));
    // (An end-of-stream alone is a half-close: the connection stays open for writing.)
    socket.resetAndDestroy();
    await eventually(() => (seenReason !== undefined ? true : undefined));
    expect(seenReason).to.be.instanceOf(ConnectionClosedError);
    await eventually(() => (accepted[0]?.closed ? true : undefined));
    for (let i = 0; i < 5; i++) await turn();
    expect(accepted[0]?.errors).to.deep.equal([]);
    expect(accepted[0]?.closes).to.equal(1);
  });

  it('queueTimeout: behind hoarders of every slot a new connection is refused, then served once they go', async () => {
    const hoard: StreamHandler = async (reader, writer) => {
      // A hoarder sends nothing; an honest client sends a line and gets it back.
      const line = await reader.readLine();
      writer.write(line);
    };
    const { port, accepted } = await listen(tracked(hoard, { concurrency: 2, queueTimeout: 100 }));
    const hoarders = [await client(port), await client(port)];
    await eventually(() => (accepted.length === 2 ? true : undefined));
    const waiting = await client(port);
    const started = Date.now();
    waiting.write('hello\n');
    // Refused after about 100 ms: its connection ends without a reply.
    expect((await collect(waiting)).toString()).to.equal('');
    expect(Date.now() - started).to.be.lessThan(2_000);
    expect(fixture.map.stats().refused).to.equal(1);
    for (const hoarder of hoarders) hoarder.destroy();
    await eventually(() => (accepted.slice(0, 2).every((c) => c.closed) ? true : undefined));
    const honest = await client(port);
    const reply = readBytes(honest, 6);
    honest.write('again\n');
    expect((await reply).toString()).to.equal('again\n');
  });

  it('works over an in-memory duplex pair', async () => {
    const [peer, end] = duplexPair();
    const Connection = tracked(lineEcho);
    const connection = new Connection({ socket: end, map: fixture.map });
    fixture.running = loop({ map: fixture.map });
    const received = collect(peer);
    peer.end('one\ntwo\n');
    expect((await received).toString()).to.equal('one\ntwo\n');
    await fixture.running;
    expect(connection.closes).to.equal(1);
    expect(connection.context.remoteAddress).to.deep.equal({ path: '' });
  });

  it("exposes the handler's own reader, writer and context on the instance, before and after the close", async () => {
    const [peer, end] = duplexPair();
    let args: [unknown, unknown, unknown] | undefined;
    const Connection = tracked(async (reader, writer, context) => {
      args = [reader, writer, context];
      writer.write(await reader.readLine());
    });
    const connection = new Connection({ socket: end, map: fixture.map });
    const { reader, writer, context } = connection;
    fixture.running = loop({ map: fixture.map });
    const received = collect(peer);
    peer.end('hi\n');
    expect((await received).toString()).to.equal('hi\n');
    await fixture.running;
    expect(args).to.deep.equal([reader, writer, context]);
    expect(args![0]).to.equal(reader);
    expect(args![1]).to.equal(writer);
    expect(args![2]).to.equal(context);
    expect(connection.reader).to.equal(reader);
    expect(connection.writer).to.equal(writer);
    expect(connection.context).to.equal(context);
  });

  it('aborts context.signal when the connection closes, even if the handler never looked at it', async () => {
    const [peer, end] = duplexPair();
    const Connection = tracked(async (reader) => {
      while ((await reader.read(100)).length > 0);
    });
    const connection = new Connection({ socket: end, map: fixture.map });
    fixture.running = loop({ map: fixture.map });
    peer.resume();
    peer.end('bye\n');
    await fixture.running;
    expect(connection.closes).to.equal(1);
    // Asked for only now, after the close: made aborted, with the close as its reason.
    const signal = connection.context.signal;
    expect(signal.aborted).to.equal(true);
    expect(signal.reason).to.be.instanceOf(ConnectionClosedError);
    expect(connection.context.signal).to.equal(signal);
  });

  it('gives a handler that holds context.signal an abort when its connection closes', async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    let held: AbortSignal | undefined;
    let abortedWhileRunning: boolean | undefined;
    const Connection = tracked(async (reader, _writer, context) => {
      held = context.signal;
      while ((await reader.read(100)).length > 0);
      abortedWhileRunning = held.aborted;
    });
    new Connection({ socket: end, map: fixture.map });
    fixture.running = loop({ map: fixture.map });
    peer.resume();
    peer.end();
    await fixture.running;
    expect(abortedWhileRunning).to.equal(false);
    expect(held?.aborted).to.equal(true);
    expect(held?.reason).to.be.instanceOf(ConnectionClosedError);
  });

  it('keeps buffers bounded when a peer sends 64 MiB to a slow modern handler', async () => {
    const total = 64 * 1024 * 1024;
    const limit = 64 * 1024;
    let maxReader = 0;
    let maxSocket = 0;
    let received = 0;
    const { port, accepted } = await listen(
      tracked(
        async (reader) => {
          const socket = accepted[0]?.socket;
          for (;;) {
            maxReader = Math.max(maxReader, reader.bufferedLength);
            maxSocket = Math.max(maxSocket, socket?.readableLength ?? 0);
            const chunk = await reader.read(16 * 1024);
            if (chunk.length === 0) return;
            received += chunk.length;
            await turn();
          }
        },
        { limit },
      ),
    );
    const socket = await client(port);
    await pumpRepeated(socket, Buffer.alloc(64 * 1024, 3), total);
    socket.end();
    await eventually(() => (accepted[0]?.closed ? true : undefined), 100_000);
    expect(received).to.equal(total);
    // readable() is false above 2 × limit; one recv() may add up to 64 KiB; the socket holds its
    // own high-water mark plus at most one chunk read from the kernel.
    expect(maxReader).to.be.at.most(2 * limit + 64 * 1024);
    const socketMark = accepted[0]?.socket?.readableHighWaterMark ?? 0;
    expect(maxSocket).to.be.at.most(socketMark + 64 * 1024);
    expect(maxReader).to.be.at.least(limit);
  });

  it('rejects a handler that is not a function, and a bad option', () => {
    expect(() => asDispatcherClass(42 as unknown as StreamHandler)).to.throw(
      TypeError,
      'Expected `handler` to be a function, got `42` (number)',
    );
    expect(() => asDispatcherClass(lineEcho, { limit: 1.5 })).to.throw(
      RangeError,
      'Expected `limit` to be a positive integer, got `1.5` (number)',
    );
  });
});

describe('README examples of the handler-level adapters', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(
    readme.indexOf('<!-- section:adapter -->'),
    readme.indexOf('<!-- /section:adapter -->'),
  );
  const indexUrl = (layer: string): string =>
    pathToFileURL(new URL(`../../src/${layer}/index.ts`, import.meta.url).pathname).href;

  // Replaces the example's "// ... later" with a client that sends `input` and records what
  // comes back (until `length` characters or end-of-stream) in globalThis[key].
  function probe(address: string, input: string, length: number, key: string): string {
    return `
const net = await import('node:net');
const { port } = ${address}.address() as { port: number };
const client = net.connect({ host: '127.0.0.1', port });
client.setEncoding('utf8');
let received = '';
await new Promise<void>((resolve) => {
  client.on('data', (text: string) => { received += text; if (received.length >= ${length}) resolve(); });
  client.on('end', () => resolve());
  client.write(${JSON.stringify(input)});
});
client.destroy();
(globalThis as Record<string, unknown>)[${JSON.stringify(key)}] = received;
`;
  }

  async function run(heading: string, probeCode: string): Promise<void> {
    const start = section.indexOf(heading);
    expect(start, heading).to.be.above(-1);
    const match = /```ts\n([\s\S]*?)```/.exec(section.slice(start));
    expect(match, `a ts code block after ${heading}`).to.not.equal(null);
    const source = (match?.[1] ?? '')
      .replace("'dispatch-bridge/legacy'", `'${indexUrl('legacy')}'`)
      .replace("'dispatch-bridge/modern'", `'${indexUrl('modern')}'`)
      .replace("'dispatch-bridge/adapter'", `'${indexUrl('adapter')}'`)
      .replace('// ... later', probeCode);
    expect(source).to.contain('globalThis');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const dir = mkdtempSync(join(tmpdir(), 'dispatch-bridge-readme-'));
    try {
      const file = join(dir, 'example.mjs');
      writeFileSync(file, outputText);
      await import(pathToFileURL(file).href);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const results = globalThis as Record<string, unknown>;

  it('toStreams: greets the name it reads, closes, and tears down', async () => {
    await run('`toStreams`', probe('listener', 'Ada\n', 100, 'readmeToStreams'));
    expect(results.readmeToStreams).to.equal('hello Ada\n');
  });

  it('asStreamHandler: the Echo class echoes on startServer, then the server shuts down', async () => {
    await run('`asStreamHandler`', probe('server', 'ping', 4, 'readmeAsStreamHandler'));
    expect(results.readmeAsStreamHandler).to.equal('ping');
  });

  it('asDispatcherClass: the async handler upper-cases lines on a legacy listener', async () => {
    await run('`asDispatcherClass`', probe('listener', 'abc\n', 4, 'readmeAsDispatcherClass'));
    expect(results.readmeAsDispatcherClass).to.equal('ABC\n');
  });
});
