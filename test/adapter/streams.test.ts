import { expect } from 'chai';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { toStreams } from '../../src/adapter/index.js';
import { DispatcherBridge } from '../../src/adapter/_dispatcher-bridge.js';
import { Dispatcher, loop } from '../../src/legacy/index.js';
import { ConnectionClosedError } from '../../src/modern/index.js';
import { tick } from '../helpers/async.js';
import { pattern, turns } from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { useSocketMap } from '../helpers/socket-map-fixture.js';
import { cert, key } from '../helpers/tls-fixtures.js';
import {
  collect,
  connectClient,
  eventually,
  listenOn,
  readBytes,
  TrackedDispatcher,
  TrackedDispatcherWithSend,
} from '../legacy/_support.js';

/** Writes `data` to `stream` in 16 KiB pieces, waiting for 'drain'; `progress.sent` counts. */
function pump(stream: Duplex, data: Buffer, progress: { sent: number }): Promise<void> {
  return (async () => {
    while (progress.sent < data.length) {
      const piece = data.subarray(progress.sent, progress.sent + 16 * 1024);
      progress.sent += piece.length;
      if (!stream.write(piece)) await once(stream, 'drain');
    }
  })();
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('toStreams()', () => {
  const fixture = useSocketMap();

  /** A legacy listener whose connections are TrackedDispatchers adapted with toStreams(). */
  async function serve(options: Parameters<typeof toStreams>[1] = {}): Promise<{
    port: number;
    accepted: Promise<{ dispatcher: TrackedDispatcher } & ReturnType<typeof toStreams>>;
  }> {
    let resolveAccepted!: (
      value: { dispatcher: TrackedDispatcher } & ReturnType<typeof toStreams>,
    ) => void;
    const accepted = new Promise<{ dispatcher: TrackedDispatcher } & ReturnType<typeof toStreams>>(
      (resolve) => (resolveAccepted = resolve),
    );
    const { port } = await listenOn(fixture.map, (socket, map) => {
      const dispatcher = new TrackedDispatcher({ socket, map });
      resolveAccepted({ dispatcher, ...toStreams(dispatcher, options) });
      return dispatcher;
    });
    fixture.running = loop({ map: fixture.map });
    return { port, accepted };
  }

  async function client(port: number): Promise<net.Socket> {
    const socket = await connectClient({ host: '127.0.0.1', port, allowHalfOpen: true });
    fixture.cleanup.push(() => socket.destroy());
    return socket;
  }

  it('feeds what the dispatcher receives to the reader and writes through the dispatcher', async () => {
    const { port, accepted } = await serve();
    const socket = await client(port);
    socket.write('hello\nworld\n');
    const { reader, writer } = await accepted;
    expect((await reader.readLine()).toString()).to.equal('hello\n');
    expect((await reader.readLine()).toString()).to.equal('world\n');
    writer.write('HELLO ');
    writer.write('WORLD\n');
    expect((await readBytes(socket, 12)).toString()).to.equal('HELLO WORLD\n');
  });

  it('works over an in-memory duplex pair: echo, then writer.close() closes the dispatcher once', async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
    const { reader, writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    const received = collect(peer);
    peer.write('ping\n');
    expect((await reader.readLine()).toString()).to.equal('ping\n');
    writer.write('pong\n');
    writer.close();
    await writer.waitClosed();
    expect((await received).toString()).to.equal('pong\n');
    expect(dispatcher.closed).to.equal(true);
    expect(dispatcher.closes).to.equal(1);
    expect(fixture.map.size).to.equal(0);
    await fixture.running;
  });

  it('stops reading while the reader holds more than 2 × limit, so the peer is pushed back', async () => {
    const limit = 1024;
    const [peer, end] = duplexPair({ highWaterMark: 16 * 1024 });
    const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
    const { reader } = toStreams(dispatcher, { limit });
    fixture.running = loop({ map: fixture.map });
    const data = pattern(1024 * 1024);
    const progress = { sent: 0 };
    const pumping = pump(peer, data, progress);
    await eventually(() => (reader.paused ? true : undefined));
    let maxBuffered = 0;
    for (let i = 0; i < 200; i++) {
      await tick();
      maxBuffered = Math.max(maxBuffered, reader.bufferedLength);
    }
    // The bridge's readable() is false: the dispatcher's socket stopped being read.
    expect(reader.paused).to.equal(true);
    expect(maxBuffered).to.be.at.most(2 * limit + 64 * 1024);
    expect(end.readableLength).to.be.at.most(16 * 1024);
    expect(progress.sent).to.be.below(data.length / 4);
    // A reader that reads again lets everything through, intact.
    const got = await reader.readExactly(data.length);
    await pumping;
    expect(got.equals(data)).to.equal(true);
  });

  it('drain() waits while partial sends are pending and resolves once the peer reads', async () => {
    const [peer, end] = duplexPair({ highWaterMark: 16 * 1024 });
    peer.pause();
    const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
    const { writer } = toStreams(dispatcher, { highWaterMark: 32 * 1024 });
    fixture.running = loop({ map: fixture.map });
    const data = pattern(512 * 1024);
    writer.write(data);
    let drained = false;
    const draining = writer.drain().then(() => (drained = true));
    await turns(50);
    expect(drained).to.equal(false);
    expect(writer.bufferedLength).to.be.above(0);
    const got = await readBytes(peer, data.length);
    await draining;
    expect(got.equals(data)).to.equal(true);
    expect(writer.bufferedLength).to.equal(0);
    expect(dispatcher.closed).to.equal(false);
  });

  it("drain() waits for a DispatcherWithSend's out buffer too", async () => {
    const [peer, end] = duplexPair({ highWaterMark: 16 * 1024 });
    peer.pause();
    const dispatcher = new TrackedDispatcherWithSend({ socket: end, map: fixture.map });
    const { writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    const data = pattern(256 * 1024);
    writer.write(data);
    let outAtDrain = -1;
    const draining = writer.drain().then(() => (outAtDrain = dispatcher.outBufferLength));
    await turns(50);
    expect(outAtDrain).to.equal(-1);
    expect(dispatcher.outBufferLength).to.be.above(0);
    const got = await readBytes(peer, data.length);
    await draining;
    expect(outAtDrain).to.equal(0);
    expect(got.equals(data)).to.equal(true);
  });

  it("the peer's end-of-stream ends the reader and leaves the connection open for the reply", async () => {
    const { port, accepted } = await serve();
    const socket = await client(port);
    const reply = collect(socket);
    socket.end('request');
    const { dispatcher, reader, writer } = await accepted;
    expect((await reader.read()).toString()).to.equal('request');
    expect(reader.atEof()).to.equal(true);
    expect(dispatcher.closed).to.equal(false);
    writer.write('response');
    writer.close();
    expect((await reply).toString()).to.equal('response');
    await writer.waitClosed();
    expect(dispatcher.closes).to.equal(1);
  });

  it('writeEof() half-closes: the peer sees end-of-stream and can still send', async () => {
    const { port, accepted } = await serve();
    const socket = await client(port);
    const { reader, writer } = await accepted;
    expect(writer.canWriteEof()).to.equal(true);
    const reply = collect(socket);
    writer.write('question');
    writer.writeEof();
    expect((await reply).toString()).to.equal('question');
    socket.end('answer');
    expect((await reader.read()).toString()).to.equal('answer');
    writer.close();
    await writer.waitClosed();
  });

  it('closing the dispatcher ends the reader and closes the writer, once', async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    fixture.cleanup.push(() => peer.destroy());
    const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
    const { reader, writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    peer.pause();
    const pending = reader.readLine();
    await tick();
    dispatcher.close();
    expect((await pending).length).to.equal(0);
    expect(reader.atEof()).to.equal(true);
    await writer.waitClosed();
    expect(writer.isClosing()).to.equal(true);
    // The connection is gone: a late write is dropped (never thrown into the process).
    expect(() => writer.write('late')).not.to.throw();
    let drainError: unknown;
    await writer.drain().catch((error: unknown) => (drainError = error));
    expect(drainError).to.be.instanceOf(ConnectionClosedError);
    expect(dispatcher.closes).to.equal(1);
    await fixture.running;
    expect(fixture.map.size).to.equal(0);
  });

  it('a reset is a close, not an error: reads reject with ConnectionClosedError (cause ECONNRESET)', async () => {
    const [peer, end] = duplexPair();
    const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
    const { reader, writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    const pending = reader.readLine();
    peer.write('partial');
    await eventually(() => (reader.bufferedLength > 0 ? true : undefined));
    peer.destroy();
    let error: unknown;
    await pending.catch((caught: unknown) => (error = caught));
    expect(error).to.be.instanceOf(ConnectionClosedError);
    expect(((error as ConnectionClosedError).cause as NodeJS.ErrnoException).code).to.equal(
      'ECONNRESET',
    );
    await writer.waitClosed();
    expect(dispatcher.closes).to.equal(1);
    expect(dispatcher.errors).to.deep.equal([]);
  });

  it('a reset over TCP is a close too', async () => {
    const { port, accepted } = await serve();
    const socket = await client(port);
    const { dispatcher, reader, writer } = await accepted;
    const pending = reader.read(100);
    socket.resetAndDestroy();
    let error: unknown;
    await pending.catch((caught: unknown) => (error = caught));
    expect(error).to.be.instanceOf(ConnectionClosedError);
    await writer.waitClosed();
    expect(dispatcher.closes).to.equal(1);
    expect(dispatcher.errors).to.deep.equal([]);
  });

  it("handleError() (a refused connect) rejects reads with that error; the class's handleError runs", async () => {
    const port = await closedPort();
    const dispatcher = new TrackedDispatcher({ map: fixture.map });
    dispatcher.connect({ host: '127.0.0.1', port });
    const { reader, writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    let error: unknown;
    await reader.read(10).catch((caught: unknown) => (error = caught));
    expect((error as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
    expect(dispatcher.errors).to.deep.equal([error]);
    expect(dispatcher.closed).to.equal(true);
    await writer.waitClosed();
  });

  it('adapts a client dispatcher right after connect(): writes wait for the connection', async () => {
    const server = net.createServer((socket) => socket.pipe(socket));
    fixture.cleanup.push(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const dispatcher = new TrackedDispatcher({ map: fixture.map });
    dispatcher.connect({ host: '127.0.0.1', port });
    const { reader, writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    writer.write('echo me\n');
    expect((await reader.readLine()).toString()).to.equal('echo me\n');
    expect(dispatcher.connects).to.equal(1);
    writer.close();
    await writer.waitClosed();
    expect(dispatcher.closes).to.equal(1);
  });

  it('writer.abort() resets the connection', async () => {
    const [peer, end] = duplexPair();
    const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
    const { writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    const peerError = once(peer, 'error');
    writer.abort();
    const [error] = (await peerError) as [NodeJS.ErrnoException];
    expect(error.code).to.equal('ECONNRESET');
    await writer.waitClosed();
    expect(dispatcher.closed).to.equal(true);
    expect(dispatcher.closes).to.equal(1);
  });

  it('adapts a dispatcher over a TLS client socket: canWriteEof() is false', async () => {
    // A TLS transport: a dispatcher over a tls.TLSSocket client.
    const server = tls.createServer({ key, cert }, (socket) => socket.pipe(socket));
    fixture.cleanup.push(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const tlsPort = (server.address() as net.AddressInfo).port;
    const secure = new TrackedDispatcher({
      socket: tls.connect({ host: 'localhost', port: tlsPort, ca: cert }),
      map: fixture.map,
    });
    const streams = toStreams(secure);
    fixture.running = loop({ map: fixture.map });
    expect(streams.writer.canWriteEof()).to.equal(false);
    streams.writer.write('secret\n');
    expect((await streams.reader.readLine()).toString()).to.equal('secret\n');
    expect(secure.connects).to.equal(1);
    streams.writer.close();
    await streams.writer.waitClosed();
    expect(secure.closes).to.equal(1);
  });

  it('getExtraInfo() describes the real socket', async () => {
    const { port, accepted } = await serve();
    const socket = await client(port);
    const { dispatcher, writer } = await accepted;
    expect(writer.getExtraInfo('socket')).to.equal(dispatcher.socket);
    expect(writer.getExtraInfo('peername')).to.deep.include({
      host: '127.0.0.1',
      port: socket.localPort,
    });
    expect(writer.getExtraInfo('sockname')).to.deep.include({ host: '127.0.0.1', port });
    expect(writer.getExtraInfo('peercert')).to.equal(undefined);
  });

  it('leaves no listener on the transport once closed', async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    fixture.cleanup.push(() => peer.destroy());
    const before = ['close', 'error', 'end', 'readable', 'drain', 'finish'].map((e) =>
      end.listenerCount(e),
    );
    const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
    const { writer } = toStreams(dispatcher);
    fixture.running = loop({ map: fixture.map });
    peer.resume();
    writer.close();
    // waitClosed() resolves once the transport itself has closed.
    await writer.waitClosed();
    expect(end.closed).to.equal(true);
    await turns(2);
    const after = ['close', 'error', 'end', 'readable', 'drain', 'finish'].map((e) =>
      end.listenerCount(e),
    );
    expect(after).to.deep.equal(before);
  });

  describe('the connection lifecycle', () => {
    it('half-close: 200,000 lines, end, read 2 s later: every reply arrives', async () => {
      const { port, accepted } = await serve();
      const socket = await client(port);
      void accepted.then(async ({ reader, writer }) => {
        for await (const line of reader) {
          writer.write(line);
          await writer.drain();
        }
        writer.close();
      });
      const lines: string[] = [];
      for (let i = 0; i < 200_000; i++) lines.push(`line ${i}\n`);
      const input = lines.join('');
      socket.pause();
      socket.end(input);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const replies = collect(socket);
      socket.resume();
      const got = await replies;
      expect(got.length).to.equal(Buffer.byteLength(input));
      expect(got.toString() === input).to.equal(true);
      const { dispatcher } = await accepted;
      await eventually(() => (dispatcher.closed ? true : undefined));
      expect(dispatcher.closes).to.equal(1);
    });

    it('a peer that never reads: drain() and waitClosed() settle once the dispatcher closed', async () => {
      const { server: listener, port } = await listenOn(
        fixture.map,
        (socket, map) => new TrackedDispatcher({ socket, map, lingerTimeout: 200 }),
      );
      fixture.running = loop({ map: fixture.map });
      const socket = await client(port);
      socket.pause();
      const dispatcher = await eventually(() => listener.accepted[0]);
      const { writer } = toStreams(dispatcher);
      writer.write(Buffer.alloc(8 * 1024 * 1024, 'w'));
      const drained = writer.drain().then(
        () => 'resolved',
        (error: unknown) => error,
      );
      const transport = dispatcher.socket as net.Socket;
      await eventually(() => (transport.writableNeedDrain ? true : undefined));
      dispatcher.close();
      const outcome = await drained;
      expect(outcome).to.be.instanceOf(ConnectionClosedError);
      await writer.waitClosed();
      expect(transport.destroyed).to.equal(true);
      listener.close();
    });

    it('raise() reaches handleError() while the socket is congested and no input arrives', async () => {
      const bridges: DispatcherBridge[] = [];
      const { server: listener, port } = await listenOn(fixture.map, (socket, map) => {
        const dispatcher = new TrackedDispatcher({ socket, map });
        bridges.push(new DispatcherBridge(dispatcher));
        return dispatcher;
      });
      fixture.running = loop({ map: fixture.map });
      const socket = await client(port);
      socket.pause();
      const bridge = await eventually(() => bridges[0]);
      const dispatcher = listener.accepted[0]!;
      const transport = dispatcher.socket as net.Socket;
      bridge.writer.write(Buffer.alloc(16 * 1024 * 1024, 'c'));
      await eventually(() => (transport.writableNeedDrain ? true : undefined));
      await turns(20);
      expect(transport.writableNeedDrain).to.equal(true);
      const failure = new Error('handler failed');
      const errorEvent = new Promise((resolve) => dispatcher.once('error', resolve));
      bridge.raise(failure);
      expect(await errorEvent).to.equal(failure);
      expect(dispatcher.errors).to.deep.equal([failure]);
      expect(dispatcher.closed).to.equal(true);
      await bridge.reader.read(1).then(
        () => expect.fail('the reader should have failed'),
        (error: unknown) => expect(error).to.equal(failure),
      );
      listener.close();
    });

    it("writer.close() closes the dispatcher in a loop round; 'close' is emitted once", async () => {
      const [peer, end] = duplexPair();
      peer.resume();
      const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
      const { writer } = toStreams(dispatcher);
      let events = 0;
      const looping: boolean[] = [];
      dispatcher.on('close', () => {
        events++;
        looping.push(fixture.map.looping);
      });
      writer.write('bye\n');
      writer.close();
      await turns(10);
      // No loop runs yet: the close waits for one.
      expect(dispatcher.closed).to.equal(false);
      fixture.running = loop({ map: fixture.map });
      await writer.waitClosed();
      expect(dispatcher.closed).to.equal(true);
      expect(events).to.equal(1);
      expect(looping).to.deep.equal([true]);
      expect(dispatcher.closes).to.equal(1);
    });
  });

  describe('argument checks', () => {
    it('rejects what is not a Dispatcher', () => {
      expect(() => toStreams({} as Dispatcher)).to.throw(
        TypeError,
        'Expected `dispatcher` to be a Dispatcher, got `[object Object]` (object)',
      );
    });

    it('rejects a closed, a listening, an unconnected or an already adapted dispatcher', async () => {
      const closed = new TrackedDispatcher({ map: fixture.map });
      closed.close();
      expect(() => toStreams(closed)).to.throw(Error, 'Cannot adapt the dispatcher: it is closed');
      const unconnected = new TrackedDispatcher({ map: fixture.map });
      expect(() => toStreams(unconnected)).to.throw(Error, 'it has no socket');
      const listener = new TrackedDispatcher({ map: fixture.map });
      listener.bind({ host: '127.0.0.1', port: 0 });
      await listener.listen();
      expect(() => toStreams(listener)).to.throw(Error, 'it is listening, not connected');
      listener.close();
      const [peer, end] = duplexPair();
      fixture.cleanup.push(() => peer.destroy());
      const once_ = new TrackedDispatcher({ socket: end, map: fixture.map });
      toStreams(once_);
      expect(() => toStreams(once_)).to.throw(Error, 'it is already adapted to streams');
    });

    it('rejects a limit or highWaterMark that is not a positive integer', () => {
      const [peer, end] = duplexPair();
      fixture.cleanup.push(() => peer.destroy());
      const dispatcher = new TrackedDispatcher({ socket: end, map: fixture.map });
      expect(() => toStreams(dispatcher, { limit: 0 })).to.throw(
        RangeError,
        'Expected `limit` to be a positive integer, got `0` (number)',
      );
      expect(() => toStreams(dispatcher, { highWaterMark: '1' as unknown as number })).to.throw(
        TypeError,
        'Expected `highWaterMark` to be a positive integer, got `1` (string)',
      );
    });
  });
});
