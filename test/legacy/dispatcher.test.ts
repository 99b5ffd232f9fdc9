import { expect } from 'chai';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Dispatcher, DispatcherWithSend, SocketMap, loop } from '../../src/legacy/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { cert, key } from '../helpers/tls-fixtures.js';
import {
  Acceptor,
  EchoHandler,
  QuietDispatcher,
  collect,
  connectClient,
  eventually,
  listenOn,
  nextEvent,
  readBytes,
} from './_support.js';

/** Resolves once `stream` has emitted 'close' (at once if it already has). */
async function closedOf(stream: Duplex): Promise<void> {
  if (!stream.closed) await once(stream, 'close');
  // `closed` turns true before 'close' is emitted (on the next tick): let it be emitted.
  else await new Promise((resolve) => setImmediate(resolve));
}

/** How many of the dispatcher's own listeners (private arrow fields, named `#...`) remain. */
function listenerTotal(stream: Duplex): number {
  let count = 0;
  for (const event of stream.eventNames()) {
    for (const listener of stream.listeners(event)) if (listener.name.startsWith('#')) count++;
  }
  return count;
}

/** Echo handler that remembers how far its out buffer grew (proof of partial sends). */
class MeasuringEcho extends EchoHandler {
  maxOutBuffer = 0;
  override handleRead(): void {
    super.handleRead();
    this.maxOutBuffer = Math.max(this.maxOutBuffer, this.outBufferLength);
  }
}

describe('Dispatcher', () => {
  let map: SocketMap;
  const cleanups: Array<() => void> = [];
  beforeEach(() => {
    map = new SocketMap();
  });
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    map.closeAll();
  });

  describe('echo through DispatcherWithSend', () => {
    it('echoes everything intact over TCP, buffering partial sends', async () => {
      const { server, port } = await listenOn(
        map,
        (socket, m) => new MeasuringEcho({ socket, map: m }),
      );
      const done = loop({ map });
      const client = await connectClient({ host: '127.0.0.1', port });
      cleanups.push(() => client.destroy());
      const piece = Buffer.alloc(64 * 1024);
      for (let i = 0; i < piece.length; i++) piece[i] = (i * 31) & 0xff;
      const handler = await eventually(() => server.accepted[0]);
      // The client reads nothing and keeps sending until the server's sends come back partial:
      // the kernel's buffers fill, then the transport congests and send() takes fewer bytes, so
      // DispatcherWithSend buffers the rest. Whatever the transport's writableHighWaterMark
      // (16 KiB on Node 20, 64 KiB on Node 22) and the kernel's socket buffer sizes.
      let sent = 0;
      for (let turns = 0; handler.maxOutBuffer === 0; turns++) {
        expect(sent, 'bytes sent before a partial send').to.be.below(256 << 20);
        expect(turns, 'event-loop turns before a partial send').to.be.below(100_000);
        if (client.writableLength < piece.length) {
          client.write(piece);
          sent += piece.length;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(sent).to.be.at.least(piece.length);
      const echoed = await readBytes(client, sent);
      expect(echoed.length).to.equal(sent);
      for (let offset = 0; offset < sent; offset += piece.length) {
        expect(echoed.subarray(offset, offset + piece.length).equals(piece)).to.equal(true);
      }
      client.end();
      await nextEvent(handler, 'close');
      expect(handler.closes).to.equal(1);
      expect(handler.errors).to.deep.equal([]);
      server.close();
      await done;
      expect(map.size).to.equal(0);
    });

    it('echoes 1 MiB intact over an in-memory duplex pair', async () => {
      const [peer, socket] = duplexPair();
      const handler = new MeasuringEcho({ socket, map });
      const done = loop({ map });
      const payload = Buffer.alloc(1 << 20, 0x5a);
      const echoed = readBytes(peer, payload.length);
      peer.write(payload);
      expect((await echoed).equals(payload)).to.equal(true);
      expect(handler.maxOutBuffer).to.be.greaterThan(0);
      peer.end();
      await done;
      expect(handler.closes).to.equal(1);
      await closedOf(socket);
      expect(listenerTotal(socket)).to.equal(0);
    });
  });

  describe('handleClose()', () => {
    it('runs exactly once per connection, and the transport listeners are removed', async () => {
      const { server, port } = await listenOn(
        map,
        (socket, m) => new EchoHandler({ socket, map: m }),
      );
      const done = loop({ map });
      const clients = await Promise.all(
        [1, 2, 3].map(() => connectClient({ host: '127.0.0.1', port })),
      );
      for (const client of clients) cleanups.push(() => client.destroy());
      // Wait until each connection is accepted and echoes.
      for (const client of clients) {
        const echoed = readBytes(client, 2);
        client.write('hi');
        await echoed;
      }
      const closed = server.accepted.map((handler) => nextEvent(handler, 'close'));
      clients[0]?.end();
      clients[1]?.destroy();
      (clients[2] as net.Socket).resetAndDestroy();
      await Promise.all(closed);
      expect(server.accepted.map((h) => h.closes)).to.deep.equal([1, 1, 1]);
      expect(server.accepted.map((h) => h.errors.length)).to.deep.equal([0, 0, 0]);
      await Promise.all(server.accepted.map((h) => closedOf(h.socket as Duplex)));
      expect(server.accepted.map((h) => listenerTotal(h.socket as Duplex))).to.deep.equal([
        0, 0, 0,
      ]);
      server.close();
      await done;
    });

    it('runs once on a direct close() too, and no handler runs afterwards', async () => {
      const [peer, socket] = duplexPair();
      cleanups.push(() => peer.destroy());
      const handler = new EchoHandler({ socket, map });
      const events: string[] = [];
      handler.on('close', () => events.push('close'));
      handler.on('read', () => events.push('read'));
      handler.close();
      handler.close();
      peer.write('ignored');
      peer.end();
      await loop({ map, count: 1 });
      expect(handler.closes).to.equal(1);
      expect(events).to.deep.equal(['close']);
      expect(map.has(handler)).to.equal(false);
    });

    it('logs an exception from handleClose() during close(), and closes anyway', () => {
      const [peer, socket] = duplexPair();
      cleanups.push(() => peer.destroy());
      class Throwing extends QuietDispatcher {
        override handleClose(): void {
          throw new Error('cleanup failed');
        }
      }
      const dispatcher = new Throwing({ socket, map });
      dispatcher.close();
      expect(dispatcher.closed).to.equal(true);
      expect(map.size).to.equal(0);
      expect(
        dispatcher.logs.map((l) => `${l.type} ${l.message.split('\n')[0] ?? ''}`),
      ).to.deep.equal(['error Error in handleClose(), closing: Error: cleanup failed']);
    });
  });

  it('an error in one handler closes only that connection; the others keep working', async () => {
    class Fragile extends EchoHandler {
      override handleRead(): void {
        const data = this.recv(1024);
        if (data.toString().includes('boom')) throw new Error('handler failed');
        if (data.length > 0) this.send(data);
      }
    }
    const { server, port } = await listenOn(map, (socket, m) => new Fragile({ socket, map: m }));
    const done = loop({ map });
    const a = await connectClient({ host: '127.0.0.1', port });
    const b = await connectClient({ host: '127.0.0.1', port });
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    );
    const first = readBytes(b, 5);
    b.write('first');
    expect((await first).toString()).to.equal('first');
    const aEnded = collect(a);
    const errorEvent = nextEvent(server.accepted[0] as Fragile, 'error');
    a.write('boom');
    const [reported] = (await errorEvent) as [Error];
    expect(reported.message).to.equal('handler failed');
    expect((await aEnded).length).to.equal(0);
    const fragile = server.accepted[0] as Fragile;
    expect(fragile.errors).to.have.length(1);
    expect(fragile.closes).to.equal(1);
    const second = readBytes(b, 6);
    b.write('second');
    expect((await second).toString()).to.equal('second');
    expect(map.has(server)).to.equal(true);
    server.close();
    b.end();
    await done;
  });

  describe('connect()', () => {
    it('reports handleConnect with connected already true, then reads and writes', async () => {
      const { server, port } = await listenOn(
        map,
        (socket, m) => new EchoHandler({ socket, map: m }),
      );
      class Client extends DispatcherWithSend {
        seen: string[] = [];
        received = '';
        override handleConnect(): void {
          this.seen.push(`connect connected=${this.connected} connecting=${this.connecting}`);
          this.send('ping');
        }
        override handleRead(): void {
          this.received += this.recv(64).toString();
          if (this.received === 'ping') {
            this.close();
            server.close();
          }
        }
      }
      const client = new Client({ map });
      const events: string[] = [];
      for (const event of ['connect', 'write', 'read'] as const)
        client.on(event, () => events.push(event));
      client.connect({ host: '127.0.0.1', port });
      expect(client.connecting).to.equal(true);
      await loop({ map });
      expect(client.seen).to.deep.equal(['connect connected=true connecting=false']);
      expect(client.received).to.equal('ping');
      expect(events[0]).to.equal('connect');
      expect(events).to.include('read');
    });

    it('reaches handleError then handleClose for a closed port, with no unhandled error', async () => {
      const probe = net.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const { port } = probe.address() as net.AddressInfo;
      await new Promise((resolve) => probe.close(resolve));
      class Client extends QuietDispatcher {
        order: string[] = [];
        override handleConnect(): void {
          this.order.push('connect');
        }
        override handleError(error: unknown): void {
          this.order.push(`error ${(error as NodeJS.ErrnoException).code}`);
          super.handleError(error);
        }
        override handleClose(): void {
          this.order.push('close');
          super.handleClose();
        }
      }
      const client = new Client({ map });
      client.connect({ host: '127.0.0.1', port });
      await loop({ map });
      expect(client.order).to.deep.equal(['error ECONNREFUSED', 'close']);
      expect(client.logs.map((l) => l.type)).to.deep.equal(['error']);
      expect(map.size).to.equal(0);
      const socket = client.socket as Duplex;
      await closedOf(socket);
      expect(listenerTotal(socket)).to.equal(0);
    });
  });

  it('readable() === false stops reading: a 64 MiB peer stays pending, server memory bounded', async () => {
    class Stalled extends Dispatcher {
      rounds = 0;
      override readable(): boolean {
        return false;
      }
      override writable(): boolean {
        return false;
      }
    }
    const { server, port } = await listenOn(map, (socket, m) => new Stalled({ socket, map: m }));
    const client = await connectClient({ host: '127.0.0.1', port });
    cleanups.push(() => client.destroy());
    const total = 64 * 1024 * 1024;
    let writesDone = 0;
    const chunk = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; i < 64; i++) client.write(chunk, () => writesDone++);
    // Drive a bounded number of rounds; each times out since the stalled handler never wants I/O.
    await loop({ map, count: 1, timeout: 20 });
    const handler = server.accepted[0] as Stalled;
    const transport = handler.socket as net.Socket;
    for (let i = 0; i < 100 && transport.readableLength < transport.readableHighWaterMark; i++) {
      await loop({ map, count: 1, timeout: 10 });
    }
    await loop({ map, count: 5, timeout: 10 });
    // Node reads up to one 64 KiB chunk past the high-water mark, then stops.
    expect(transport.readableLength).to.be.at.most(transport.readableHighWaterMark + 65536);
    expect(transport.bytesRead).to.be.below(2 * 1024 * 1024);
    expect(client.writableLength).to.be.above(total / 2);
    expect(writesDone).to.be.below(64);
    client.destroy();
  });

  it('recv() after close() returns an empty Buffer; send() after close() returns 0', () => {
    const [peer, socket] = duplexPair();
    cleanups.push(() => peer.destroy());
    const handler = new EchoHandler({ socket, map });
    peer.write('data');
    handler.close();
    expect(handler.recv(10).length).to.equal(0);
    expect(Dispatcher.prototype.send.call(handler, 'x')).to.equal(0);
    expect(handler.send('x')).to.equal(0);
    expect(handler.closes).to.equal(1); // from close() itself
  });

  describe('send()', () => {
    it('returns fewer bytes than given when the transport fills up, then 0 while congested', () => {
      const [peer, socket] = duplexPair({ highWaterMark: 1024 });
      cleanups.push(() => peer.destroy());
      const dispatcher = new QuietDispatcher({ socket, map });
      // The peer's buffer and then the transport's own take bytes until the high-water mark.
      const results: number[] = [];
      for (let i = 0; i < 10; i++) results.push(dispatcher.send(Buffer.alloc(600)));
      const partial = results.findIndex((n) => n < 600);
      expect(results[partial]).to.be.within(1, 599);
      expect(results.slice(partial + 1).every((n) => n === 0)).to.equal(true);
      expect(socket.writableNeedDrain).to.equal(true);
    });

    it('after the peer reset: handleClose (not handleError), once', async () => {
      const [peer, socket] = duplexPair();
      class Talker extends EchoHandler {
        override readable(): boolean {
          return false;
        }
        override writable(): boolean {
          return true;
        }
        override handleWrite(): void {
          this.send('tick');
        }
      }
      const talker = new Talker({ socket, map });
      peer.resume();
      const done = loop({ map });
      setImmediate(() => peer.destroy());
      await done;
      expect(talker.closes).to.equal(1);
      expect(talker.errors).to.deep.equal([]);
      await closedOf(socket);
      expect(listenerTotal(socket)).to.equal(0);
    });

    it('after the peer ended (half-open off): handleClose, once', async () => {
      const [peer, socket] = duplexPair();
      class Talker extends EchoHandler {
        override readable(): boolean {
          return this.socket?.readableLength === 0;
        }
        override handleRead(): void {
          // read the end-of-stream marker without closing, so send() is what notices
          this.socket?.read(0);
        }
        override writable(): boolean {
          return true;
        }
        override handleWrite(): void {
          this.send('tick');
        }
      }
      const talker = new Talker({ socket, map });
      peer.resume();
      peer.end();
      await loop({ map });
      expect(talker.closes).to.equal(1);
      expect(talker.errors).to.deep.equal([]);
    });

    it('after the TCP peer left: the sends turn into one handleClose, not handleError', async () => {
      class Talker extends EchoHandler {
        override readable(): boolean {
          return false; // never notices the FIN: only send() can find out
        }
        override writable(): boolean {
          return true;
        }
        override handleWrite(): void {
          this.send('tick');
        }
      }
      const { server, port } = await listenOn(map, (socket, m) => new Talker({ socket, map: m }));
      const client = await connectClient({ host: '127.0.0.1', port });
      client.destroy();
      const done = loop({ map });
      const talker = await eventually(() => server.accepted[0]);
      if (!talker.closed) await nextEvent(talker, 'close');
      expect(talker.closes).to.equal(1);
      expect(talker.errors).to.deep.equal([]);
      server.close();
      await done;
      await closedOf(talker.socket as Duplex);
      expect(listenerTotal(talker.socket as Duplex)).to.equal(0);
    });

    it('rejects a wrong data type with TypeError', () => {
      const [peer, socket] = duplexPair();
      cleanups.push(() => peer.destroy());
      const dispatcher = new QuietDispatcher({ socket, map });
      expect(() => dispatcher.send(42 as unknown as string)).to.throw(
        TypeError,
        'Expected `data` of send() to be a Uint8Array or a string, got `42` (number)',
      );
    });
  });

  describe('recv()', () => {
    it('returns at most bufferSize bytes, then an empty Buffer and handleClose() at EOF', async () => {
      const [peer, socket] = duplexPair();
      const chunks: string[] = [];
      class Reader extends EchoHandler {
        override handleRead(): void {
          const data = this.recv(3);
          chunks.push(data.toString());
        }
      }
      const reader = new Reader({ socket, map });
      peer.end('abcdefg');
      await loop({ map });
      expect(chunks).to.deep.equal(['abc', 'def', 'g', '']);
      expect(reader.closes).to.equal(1);
    });

    it('rejects a bad bufferSize with RangeError', () => {
      const [peer, socket] = duplexPair();
      cleanups.push(() => peer.destroy());
      const dispatcher = new QuietDispatcher({ socket, map });
      expect(() => dispatcher.recv(0)).to.throw(
        RangeError,
        'Expected `bufferSize` to be a positive integer, got `0` (number)',
      );
    });
  });

  describe('listening', () => {
    it('default handleAccepted() logs a warning and closes the socket', async () => {
      const server = new QuietDispatcher({ map });
      server.ignoreLogTypes = new Set();
      server.bind({ host: '127.0.0.1', port: 0 });
      await server.listen();
      const address = server.address();
      expect(address).to.have.property('host', '127.0.0.1');
      const port = (address as { port: number }).port;
      expect(port).to.be.above(0);
      const accepted = nextEvent(server, 'accept');
      const done = loop({ map });
      const client = await connectClient({ host: '127.0.0.1', port });
      cleanups.push(() => client.destroy());
      const ended = collect(client).catch(() => Buffer.alloc(0));
      await accepted;
      await ended;
      expect(server.logs).to.deep.equal([{ type: 'warning', message: 'unhandled accepted event' }]);
      server.close();
      await done;
      expect(server.accepting).to.equal(false);
    });

    it('queues pending connections until handleAccept takes them', async () => {
      const { server, port } = await listenOn(
        map,
        (socket, m) => new EchoHandler({ socket, map: m }),
      );
      const clients = await Promise.all(
        [1, 2].map(() => connectClient({ host: '127.0.0.1', port })),
      );
      for (const client of clients) cleanups.push(() => client.destroy());
      expect(server.accepted).to.have.length(0);
      await loop({ map, count: 1 });
      for (let i = 0; i < 10 && server.accepted.length < 2; i++) await loop({ map, count: 1 });
      expect(server.accepted).to.have.length(2);
    });

    describe('the queue of connections waiting for accept()', () => {
      class Closed extends Acceptor<EchoHandler> {
        open = false;
        override readable(): boolean {
          return this.open;
        }
      }

      // Listens with `backlog` while not accepting, connects `count` clients one after the other
      // (so the server sees them in order) and reports which ones the server ended.
      async function fill(backlog: number, count: number) {
        const server = new Closed((socket, m) => new EchoHandler({ socket, map: m }), map);
        server.bind({ host: '127.0.0.1', port: 0 });
        await server.listen(backlog);
        const { port } = server.address() as { port: number };
        const running = loop({ map, timeout: 5 });
        const clients: net.Socket[] = [];
        const ended: boolean[] = [];
        for (let i = 0; i < count; i++) {
          const client = await connectClient({ host: '127.0.0.1', port });
          cleanups.push(() => client.destroy());
          const index = clients.push(client) - 1;
          ended[index] = false;
          const end = (): void => void (ended[index] = true);
          client.on('end', end).on('error', end).resume();
        }
        const stop = async (): Promise<void> => {
          server.close();
          for (const handler of server.accepted) handler.close();
          await running;
        };
        return { server, clients, ended, stop };
      }

      it('refuses connections beyond the limit while none are accepted, and accepts the rest', async () => {
        const { server, clients, ended, stop } = await fill(600, 604);
        // The kernel completes every handshake; the dispatcher keeps 600 and refuses 4.
        await eventually(() => (ended.filter(Boolean).length === 4 ? true : undefined));
        expect(ended.slice(0, 600).some(Boolean)).to.equal(false);
        expect(ended.slice(600)).to.deep.equal([true, true, true, true]);
        expect(server.accepted).to.have.length(0);
        server.open = true;
        map.wake();
        await eventually(() => (server.accepted.length === 600 ? true : undefined));
        // The kept connections are live: each echoes.
        const echoes = [clients[0]!, clients[599]!].map((client) => {
          client.removeAllListeners('data').pause();
          const echo = readBytes(client, 4);
          client.write('ping');
          return echo;
        });
        expect((await Promise.all(echoes)).map(String)).to.deep.equal(['ping', 'ping']);
        await stop();
      });

      it('holds at least 511: a small asyncore-style listen(5) refuses no burst of 20', async () => {
        const { server, ended, stop } = await fill(5, 20);
        server.open = true;
        map.wake();
        await eventually(() => (server.accepted.length === 20 ? true : undefined));
        expect(ended.some(Boolean)).to.equal(false);
        await stop();
      });
    });

    it('rejects listen() before bind(), and a bad address', async () => {
      const dispatcher = new QuietDispatcher({ map });
      let error: unknown;
      await dispatcher.listen().catch((e: unknown) => (error = e));
      expect((error as Error).message).to.equal('Cannot listen(): call bind() first');
      expect(() => dispatcher.bind({ host: 'x', port: -1 })).to.throw(
        TypeError,
        'Expected `address` of bind()',
      );
      expect(() => dispatcher.connect({ path: '' })).to.throw(TypeError);
    });

    it('rejects listen() on a port in use and closes the dispatcher', async () => {
      const { port } = await listenOn(map, (socket, m) => new EchoHandler({ socket, map: m }));
      const second = new QuietDispatcher({ map });
      second.setReuseAddr();
      second.bind({ host: '127.0.0.1', port });
      let error: unknown;
      await second.listen().catch((e: unknown) => (error = e));
      expect((error as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
      expect(second.closed).to.equal(true);
      expect(map.has(second)).to.equal(false);
    });
  });

  it('round-trips data both ways over TLS', async () => {
    const { server, port } = await listenOn(map, (socket, m) => {
      const secure = new tls.TLSSocket(socket, { isServer: true, key, cert });
      return new EchoHandler({ socket: secure, map: m });
    });
    class TlsClient extends DispatcherWithSend {
      received = '';
      override handleConnect(): void {
        this.send('hello over tls');
      }
      override handleRead(): void {
        this.received += this.recv(1024).toString();
        if (this.received === 'hello over tls') {
          this.close();
          server.close();
        }
      }
      override logInfo(): void {}
    }
    const client = new TlsClient({
      socket: tls.connect({ host: '127.0.0.1', port, ca: cert, servername: 'localhost' }),
      map,
    });
    expect(client.connecting).to.equal(true);
    await loop({ map, timeout: 5_000 });
    expect(client.received).to.equal('hello over tls');
    const handler = server.accepted[0] as EchoHandler;
    expect(handler.errors).to.deep.equal([]);
  });

  it('closes a TLS connection whose peer resets: handleClose once, no unhandled error', async () => {
    const { server, port } = await listenOn(map, (socket, m) => {
      const secure = new tls.TLSSocket(socket, { isServer: true, key, cert });
      return new EchoHandler({ socket: secure, map: m });
    });
    const done = loop({ map });
    const raw = await connectClient({ host: '127.0.0.1', port });
    raw.on('error', () => undefined);
    const client = tls.connect({ socket: raw, ca: cert, servername: 'localhost' });
    client.on('error', () => undefined);
    const echoed = readBytes(client, 4);
    client.write('ping');
    expect((await echoed).toString()).to.equal('ping');
    const handler = await eventually(() => server.accepted[0]);
    const closed = nextEvent(handler, 'close');
    raw.resetAndDestroy();
    await closed;
    expect(handler.closes).to.equal(1);
    expect(handler.errors).to.deep.equal([]);
    server.close();
    await done;
  });

  it('round-trips data over a Unix socket, and removes the socket file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dispatch-bridge-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'echo.sock');
    const { server } = await listenOn(map, (socket, m) => new EchoHandler({ socket, map: m }), {
      path,
    });
    expect(server.address()).to.deep.equal({ path });
    class UnixClient extends DispatcherWithSend {
      received = '';
      override handleConnect(): void {
        this.send('over a unix socket');
      }
      override handleRead(): void {
        this.received += this.recv(1024).toString();
        if (this.received === 'over a unix socket') {
          this.close();
          server.close();
        }
      }
      override logInfo(): void {}
    }
    const client = new UnixClient({ map });
    client.connect({ path });
    await loop({ map });
    expect(client.received).to.equal('over a unix socket');
    await new Promise((resolve) => setImmediate(resolve));
    expect(existsSync(path)).to.equal(false);
  });

  describe('logInfo()', () => {
    function capture(run: () => void): { stdout: string; stderr: string } {
      const out = { stdout: '', stderr: '' };
      const stdout = Object.getOwnPropertyDescriptor(process.stdout, 'write');
      const stderr = Object.getOwnPropertyDescriptor(process.stderr, 'write');
      const fake = (key: 'stdout' | 'stderr') => (chunk: string) => ((out[key] += chunk), true);
      Object.defineProperty(process.stdout, 'write', { value: fake('stdout'), configurable: true });
      Object.defineProperty(process.stderr, 'write', { value: fake('stderr'), configurable: true });
      try {
        run();
      } finally {
        if (stdout) Object.defineProperty(process.stdout, 'write', stdout);
        else delete (process.stdout as { write?: unknown }).write;
        if (stderr) Object.defineProperty(process.stderr, 'write', stderr);
        else delete (process.stderr as { write?: unknown }).write;
      }
      return out;
    }

    it("prints 'info' to stdout and 'error' to stderr, and ignores 'warning' by default (asyncore)", () => {
      const dispatcher = new Dispatcher({ map });
      const out = capture(() => {
        dispatcher.logInfo('hello');
        dispatcher.logInfo('careful', 'warning');
        dispatcher.logInfo('broken', 'error');
      });
      expect(out).to.deep.equal({ stdout: 'info: hello\n', stderr: 'error: broken\n' });
    });

    it('can be silenced per dispatcher with ignoreLogTypes', () => {
      const dispatcher = new Dispatcher({ map });
      dispatcher.ignoreLogTypes = new Set(['info', 'warning', 'error']);
      const out = capture(() => dispatcher.logInfo('nothing', 'error'));
      expect(out).to.deep.equal({ stdout: '', stderr: '' });
      // Only that one: another dispatcher keeps the default.
      const other = new Dispatcher({ map });
      expect(capture(() => other.logInfo('broken', 'error'))).to.deep.equal({
        stdout: '',
        stderr: 'error: broken\n',
      });
    });
  });

  it('rejects a socket that is not a Duplex with TypeError', () => {
    expect(() => new Dispatcher({ socket: {} as Duplex, map })).to.throw(
      TypeError,
      'Expected `socket` to be a stream.Duplex, got `Object` (object)',
    );
  });

  describe('the one dispatch path', () => {
    it('an arrow-function handleClose field runs exactly once, at end-of-stream', async () => {
      const [peer, socket] = duplexPair();
      cleanups.push(() => peer.destroy());
      class Arrow extends QuietDispatcher {
        calls = 0;
        override writable = (): boolean => false;
        override handleRead = (): void => {
          this.recv(1024);
        };
        override handleClose = (): void => {
          this.calls++;
          this.close();
        };
      }
      const dispatcher = new Arrow({ socket, map });
      const closes: string[] = [];
      dispatcher.on('close', () => closes.push('close'));
      peer.end('bye');
      await loop({ map, timeout: 100 });
      expect(dispatcher.calls).to.equal(1);
      expect(closes).to.deep.equal(['close']);
      expect(dispatcher.closed).to.equal(true);
      // Nothing on the instance was replaced by the library.
      expect(Object.prototype.hasOwnProperty.call(dispatcher, 'close')).to.equal(false);
    });

    for (const way of ['close()', 'handleClose()', 'closeAll()', 'an error', 'a reset'] as const) {
      it(`'close' is emitted exactly once, after the dispatcher closed, by ${way}`, async () => {
        const [peer, socket] = duplexPair();
        peer.on('error', () => {});
        cleanups.push(() => peer.destroy());
        class Closing extends QuietDispatcher {
          handled = 0;
          override writable(): boolean {
            return false;
          }
          override handleRead(): void {
            const data = this.recv(64);
            if (data.toString() === 'boom') throw new Error('boom');
          }
          override handleClose(): void {
            this.handled++;
            super.handleClose();
          }
        }
        const dispatcher = new Closing({ socket, map });
        const seen: boolean[] = [];
        dispatcher.on('close', () => seen.push(dispatcher.closed));
        const done = loop({ map, timeout: 100 });
        if (way === 'close()') dispatcher.close();
        else if (way === 'handleClose()') peer.end();
        else if (way === 'closeAll()') map.closeAll();
        else if (way === 'an error') peer.write('boom');
        else peer.destroy(new Error('reset'));
        await done;
        dispatcher.close();
        map.closeAll();
        expect(seen).to.deep.equal([true]);
        expect(dispatcher.handled).to.equal(1);
      });
    }

    it('a handleClose() that does not close keeps the dispatcher open; close() later does not rerun it', async () => {
      const [peer, socket] = duplexPair({ allowHalfOpen: true });
      cleanups.push(() => peer.destroy());
      class Lingering extends QuietDispatcher {
        handled = 0;
        override writable(): boolean {
          return false;
        }
        override handleRead(): void {
          this.recv(64);
        }
        override handleClose(): void {
          this.handled++;
        }
      }
      const dispatcher = new Lingering({ socket, map });
      peer.end();
      await loop({ map, count: 3, timeout: 20 });
      expect(dispatcher.handled).to.equal(1);
      expect(dispatcher.closed).to.equal(false);
      dispatcher.close();
      expect(dispatcher.handled).to.equal(1);
      expect(dispatcher.closed).to.equal(true);
    });

    it('connected is assignable (asyncore parity), accepting and connecting follow the state', () => {
      const dispatcher = new QuietDispatcher({ map });
      expect([dispatcher.connected, dispatcher.connecting, dispatcher.accepting]).to.deep.equal([
        false,
        false,
        false,
      ]);
      dispatcher.connected = true;
      expect(dispatcher.connected).to.equal(true);
      dispatcher.connected = false;
      expect(dispatcher.connected).to.equal(false);
      dispatcher.close();
      dispatcher.connected = true;
      expect(dispatcher.connected).to.equal(false);
    });

    it("an exception in a 'close' listener is logged, not thrown", () => {
      const [peer, socket] = duplexPair();
      cleanups.push(() => peer.destroy());
      const dispatcher = new QuietDispatcher({ socket, map });
      dispatcher.on('close', () => {
        throw new Error('listener failed');
      });
      expect(() => dispatcher.close()).not.to.throw();
      expect(dispatcher.logs.map((l) => l.message.split('\n')[0])).to.deep.equal([
        "Error in a 'close' listener: Error: listener failed",
      ]);
    });

    it('a handleClose() that throws at end-of-stream is logged and the dispatcher closes', async () => {
      const [peer, socket] = duplexPair();
      cleanups.push(() => peer.destroy());
      class Throwing extends QuietDispatcher {
        override writable(): boolean {
          return false;
        }
        override handleRead(): void {
          this.recv(64);
        }
        override handleClose(): void {
          throw new Error('cleanup failed');
        }
      }
      const dispatcher = new Throwing({ socket, map });
      peer.end();
      await loop({ map, timeout: 100 });
      expect(dispatcher.closed).to.equal(true);
      expect(dispatcher.logs.map((l) => l.message.split('\n')[0])).to.deep.equal([
        'Error in handleClose(), closing: Error: cleanup failed',
      ]);
    });

    it("a listener's server error reaches handleError() in the next round", async () => {
      const errors: unknown[] = [];
      class Server extends QuietDispatcher {
        override handleError(error: unknown): void {
          errors.push(error);
          super.handleError(error);
        }
      }
      const server = new Server({ map });
      server.bind({ host: '127.0.0.1', port: 0 });
      await server.listen();
      const failure = new Error('server failed');
      server.server?.emit('error', failure);
      expect(errors).to.deep.equal([]);
      await loop({ map, timeout: 100 });
      expect(errors).to.deep.equal([failure]);
      expect(server.closed).to.equal(true);
    });
  });
});
