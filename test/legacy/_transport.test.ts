// The connection side of a Dispatcher, over loopback and the in-memory pair: close() flushes and
// lingers (nothing truncated, nothing left behind), bytes before a reset are delivered, and a
// peer that left never makes send() throw or a handler run outside loop().
import { expect } from 'chai';
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Dispatcher, DispatcherWithSend, SocketMap, loop } from '../../src/legacy/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';
import { connectClient, eventually, listenOn } from './_support.js';

const MiB = 1024 * 1024;

/** Counts what arrives on `socket` until its end-of-stream (or close). */
function countUntilEnd(socket: net.Socket): Promise<{ bytes: number; error: unknown }> {
  return new Promise((resolve) => {
    let bytes = 0;
    let error: unknown;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.once('error', (reason) => (error = reason));
    socket.once('close', () => resolve({ bytes, error }));
  });
}

describe('Dispatcher transport (_transport)', () => {
  let map: SocketMap;
  const cleanups: Array<() => void> = [];
  beforeEach(() => {
    map = new SocketMap();
  });
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    map.closeAll();
  });

  /** A loopback client and the server's socket for it (the server closes after the test). */
  async function loopbackPair(): Promise<{ client: net.Socket; accepted: net.Socket }> {
    let accepted: net.Socket | undefined;
    const server = net.createServer((socket) => (accepted = socket));
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = await connectClient({
      host: '127.0.0.1',
      port: (server.address() as net.AddressInfo).port,
    });
    return { client, accepted: await eventually(() => accepted) };
  }

  it('close() delivers a 32 MiB reply in full to a slow reader whose 1 MiB was never read', async () => {
    const body = Buffer.alloc(32 * MiB, 'z');
    // Never reads; once the client's bytes are waiting unread, sends the reply and closes.
    class Replier extends DispatcherWithSend {
      override readable(): boolean {
        return false;
      }
      override writable(): boolean {
        return true;
      }
      override handleWrite(): void {
        if ((this.socket as net.Socket).readableLength === 0) return;
        this.send(body);
        this.close();
      }
      override logInfo(): void {}
    }
    const { port } = await listenOn(map, (socket, m) => new Replier({ socket, map: m }));
    const done = loop({ map, timeout: 50 });
    const client = await connectClient({ host: '127.0.0.1', port });
    cleanups.push(() => client.destroy());
    client.pause();
    client.write(Buffer.alloc(MiB, 'c'));
    const received = countUntilEnd(client);
    // A slow reader: it starts late, then takes its time.
    await new Promise((resolve) => setTimeout(resolve, 300));
    client.resume();
    const { bytes, error } = await received;
    expect(error).to.equal(undefined);
    expect(bytes).to.equal(body.length);
    map.closeAll();
    await done;
  });

  it('close() sends what a DispatcherWithSend still buffers, over the in-memory pair', async () => {
    const [peer, end] = duplexPair({ highWaterMark: 16 * 1024 });
    const dispatcher = new DispatcherWithSend({ socket: end, map });
    const data = Buffer.alloc(MiB, 'q');
    expect(dispatcher.send(data)).to.equal(data.length);
    expect(dispatcher.outBufferLength).to.be.above(0);
    const chunks: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = once(peer, 'end');
    dispatcher.close();
    await ended;
    expect(Buffer.concat(chunks).equals(data)).to.equal(true);
    await eventually(() => (end.destroyed ? true : undefined));
  });

  it('a peer that never reads: after close() the socket is destroyed within lingerTimeout', async () => {
    let server!: DispatcherWithSend;
    const { port } = await listenOn(map, (socket, m) => {
      server = new DispatcherWithSend({ socket, map: m, lingerTimeout: 200 });
      return server;
    });
    const done = loop({ map, timeout: 50 });
    const client = await connectClient({ host: '127.0.0.1', port });
    cleanups.push(() => client.destroy());
    client.pause();
    const before = activeResources();
    await eventually(() => server);
    server.send(Buffer.alloc(16 * MiB, 's'));
    const transport = server.socket as net.Socket;
    const started = performance.now();
    server.close();
    expect(transport.destroyed).to.equal(false);
    await once(transport, 'close');
    const waited = performance.now() - started;
    expect(waited).to.be.at.least(150);
    expect(waited).to.be.below(5_000);
    map.closeAll();
    await done;
    client.destroy();
    await expectNoLeaks(before);
  });

  it('bytes received before a reset reach handleRead() before handleClose(), with no loop running then', async () => {
    const order: string[] = [];
    class Recorder extends Dispatcher {
      override handleRead(): void {
        const data = this.recv(65536);
        order.push(data.length > 0 ? `read ${data.toString()}` : 'read eof');
      }
      override writable(): boolean {
        return false;
      }
      override handleClose(): void {
        order.push('close');
        this.close();
      }
      override handleError(error: unknown): void {
        order.push(`error ${String(error)}`);
      }
    }
    const { client, accepted } = await loopbackPair();
    const dispatcher = new Recorder({ socket: accepted, map });
    client.write('before the reset');
    await eventually(() => (accepted.bytesRead >= 16 ? true : undefined));
    client.resetAndDestroy();
    await new Promise((resolve) => accepted.once('close', resolve));
    expect(order).to.deep.equal([]);
    await loop({ map, timeout: 100 });
    // asyncore's order: handle_read() gets the bytes; the next handle_read()'s recv() meets the
    // reset, runs handle_close() and returns b'' to the handler.
    expect(order).to.deep.equal(['read before the reset', 'close', 'read eof']);
    expect(dispatcher.closed).to.equal(true);
  });

  it("a socket keeps one 'end' listener: Node's own is folded into the dispatcher's, and given back at close()", async () => {
    const { client, accepted } = await loopbackPair();
    cleanups.push(() => client.destroy());
    const [node] = accepted.listeners('end');
    let eof = false;
    class EofWatcher extends Dispatcher {
      override handleRead(): void {
        if (this.recv(65536).length === 0) eof = true;
      }
      override handleClose(): void {
        this.close();
      }
    }
    const dispatcher = new EofWatcher({ socket: accepted, map });
    expect(accepted.listenerCount('end')).to.equal(1);
    expect(accepted.listeners('end')[0]).to.not.equal(node);
    // The peer's FIN still reaches the handlers.
    client.end();
    await loop({ map, timeout: 100, count: 50 });
    expect(eof).to.equal(true);
    expect(dispatcher.closed).to.equal(true);
    expect(accepted.listeners('end')[0]).to.equal(node);
  });

  it('send() to a peer that left never throws; the close is dispatched by the next round', async () => {
    let closedInLoop: boolean[] = [];
    class Sender extends Dispatcher {
      override readable(): boolean {
        return false;
      }
      override writable(): boolean {
        return false;
      }
      override handleClose(): void {
        closedInLoop.push(this.map.looping);
        this.close();
      }
    }
    let server!: Sender;
    const { port } = await listenOn(map, (socket, m) => (server = new Sender({ socket, map: m })));
    const controller = new AbortController();
    const accepting = loop({ map, signal: controller.signal });
    const client = await connectClient({ host: '127.0.0.1', port });
    await eventually(() => server);
    controller.abort();
    await accepting;
    client.resetAndDestroy();
    await new Promise((resolve) => (server.socket as Duplex).once('close', resolve));
    closedInLoop = [];
    // From a timer, outside any round: many sends to the gone peer.
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        for (let i = 0; i < 100; i++) expect(server.send('late')).to.equal(0);
        resolve();
      }, 10),
    );
    expect(closedInLoop).to.deep.equal([]);
    expect(server.closed).to.equal(false);
    await loop({ map, count: 1, timeout: 100 });
    expect(closedInLoop).to.deep.equal([true]);
    expect(server.closed).to.equal(true);
  });

  for (const [name, halfOpen] of [
    ['a half-open Duplex (flowing into the queue)', true],
    ['a Duplex that ends its side at end-of-stream (paused mode)', false],
  ] as const) {
    it(`${name}: input waits, bounded, while readable() is false, then arrives whole and in order`, async () => {
      const total = 4 * MiB;
      const input = Buffer.alloc(total);
      for (let i = 0; i < total; i++) input[i] = (i * 7 + (i >> 12)) & 0xff;
      class Gated extends Dispatcher {
        open = false;
        readonly parts: Buffer[] = [];
        override readable(): boolean {
          return this.open;
        }
        override writable(): boolean {
          return false;
        }
        override handleRead(): void {
          const data = this.recv(65536);
          if (data.length > 0) this.parts.push(data);
        }
      }
      const [peer, ours] = duplexPair({ allowHalfOpen: halfOpen });
      const gated = new Gated({ socket: ours, map });
      const running = loop({ map, timeout: 1_000 });
      for (let offset = 0; offset < total; offset += 16 * 1024) {
        peer.write(input.subarray(offset, offset + 16 * 1024));
      }
      peer.end();
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      // Held back: what left the peer is at most our queue and the Duplex's own buffer.
      const taken = total - peer.writableLength;
      expect(taken).to.be.at.most(2 * ours.readableHighWaterMark + 2 * 16 * 1024);
      expect(gated.parts).to.have.length(0);
      gated.open = true;
      map.wake();
      await running;
      expect(Buffer.concat(gated.parts).equals(input)).to.equal(true);
      expect(gated.closed).to.equal(true);
    });
  }

  it('rejects a bad lingerTimeout or maxOutgoing with RangeError', () => {
    expect(() => new Dispatcher({ map, lingerTimeout: -1 })).to.throw(RangeError, /lingerTimeout/);
    expect(() => new Dispatcher({ map, maxOutgoing: Number.NaN })).to.throw(
      RangeError,
      /maxOutgoing/,
    );
    expect(() => new Dispatcher({ map, lingerTimeout: Infinity, maxOutgoing: 0 })).not.to.throw();
  });
});
