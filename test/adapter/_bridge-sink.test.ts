// The writer's transport of a dispatcher bridge (BridgeSink): the part of a Writable a
// StreamWriter and a graceful close use, attacked through a real bridge (toStreams) over the
// in-memory duplex pair and over loopback TCP.
import { expect } from 'chai';
import { once } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { toStreams } from '../../src/adapter/index.js';
import { Dispatcher, DispatcherWithSend, loop } from '../../src/legacy/index.js';
import { pattern, turns } from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { useSocketMap } from '../helpers/socket-map-fixture.js';
import {
  collect,
  connectClient,
  eventually,
  listenOn,
  readBytes,
  TrackedDispatcher,
  TrackedDispatcherWithSend,
} from '../legacy/_support.js';

describe('BridgeSink (the writer transport of a dispatcher bridge)', () => {
  const fixture = useSocketMap();

  function bridged(
    Class: typeof TrackedDispatcher | typeof TrackedDispatcherWithSend = TrackedDispatcher,
    highWaterMark = 32 * 1024,
  ): {
    peer: Duplex;
    dispatcher: Dispatcher;
    sink: Duplex;
    writer: ReturnType<typeof toStreams>['writer'];
    reader: ReturnType<typeof toStreams>['reader'];
  } {
    const [peer, end] = duplexPair({ highWaterMark: 16 * 1024, allowHalfOpen: true });
    fixture.cleanup.push(() => peer.destroy());
    const dispatcher = new Class({ socket: end, map: fixture.map });
    const { reader, writer } = toStreams(dispatcher, { highWaterMark });
    fixture.running = loop({ map: fixture.map });
    return { peer, dispatcher, sink: writer.transport, reader, writer };
  }

  it('queues what the congested socket does not take, says false at the high-water mark, and drains in order', async () => {
    const { peer, sink } = bridged();
    peer.pause();
    const chunks = [pattern(40 * 1024), pattern(24 * 1024).reverse(), pattern(8 * 1024)];
    const results = chunks.map((chunk) => sink.write(chunk));
    // The first is partly taken (the pair's buffer), the rest queues: over 32 KiB is "full".
    expect(results.at(-1)).to.equal(false);
    expect(sink.writableNeedDrain).to.equal(true);
    const queued = sink.writableLength;
    expect(queued).to.be.above(32 * 1024);
    let drains = 0;
    sink.on('drain', () => drains++);
    await turns(20);
    expect(drains).to.equal(0);
    expect(sink.writableLength).to.equal(queued);
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const got = await readBytes(peer, total);
    await eventually(() => (drains > 0 ? true : undefined));
    expect(got.equals(Buffer.concat(chunks))).to.equal(true);
    expect(drains).to.equal(1);
    expect(sink.writableLength).to.equal(0);
    expect(sink.writableNeedDrain).to.equal(false);
  });

  it('a write with nothing queued goes straight to send(): no queue, no drain to wait for', async () => {
    const { peer, sink } = bridged();
    const received = readBytes(peer, 5);
    expect(sink.write(Buffer.from('hello'))).to.equal(true);
    expect(sink.writableLength).to.equal(0);
    expect(sink.writableNeedDrain).to.equal(false);
    expect((await received).toString()).to.equal('hello');
  });

  it("counts a DispatcherWithSend's out buffer as its write in progress", async () => {
    const { peer, dispatcher, sink } = bridged(TrackedDispatcherWithSend);
    peer.pause();
    const data = pattern(128 * 1024);
    expect(sink.write(data)).to.equal(false);
    await turns(20);
    expect((dispatcher as DispatcherWithSend).outBufferLength).to.be.above(0);
    expect(sink.writableLength).to.equal(data.length);
    const drained = once(sink, 'drain');
    const got = await readBytes(peer, data.length);
    await drained;
    expect(got.equals(data)).to.equal(true);
    expect(sink.writableLength).to.equal(0);
  });

  it("end() sends the queued writes first, then end-of-stream; 'finish' follows and the connection stays open (a half-close)", async () => {
    const { peer, dispatcher, sink, reader } = bridged();
    peer.pause();
    const data = pattern(96 * 1024);
    sink.write(data);
    const events: string[] = [];
    sink.on('finish', () => events.push('finish'));
    sink.on('close', () => events.push('close'));
    sink.end();
    expect(sink.writableEnded).to.equal(true);
    // A write after end() is refused and reaches nobody.
    expect(sink.write(Buffer.from('late'))).to.equal(false);
    await turns(20);
    expect(events).to.deep.equal([]);
    const received = collect(peer);
    peer.resume();
    expect((await received).equals(data)).to.equal(true);
    await eventually(() => (events.length > 0 ? true : undefined));
    expect(events).to.deep.equal(['finish']);
    expect(sink.writableFinished).to.equal(true);
    expect(sink.readableEnded).to.equal(false);
    // Half-closed, not closed: the peer can still send.
    peer.write('after\n');
    expect((await reader.readLine()).toString()).to.equal('after\n');
    await turns(10);
    expect(dispatcher.closed).to.equal(false);
    expect(sink.destroyed).to.equal(false);
  });

  it("a graceful close (writer.close()) consumes the readable side: 'finish', then destroyed, 'close' once the dispatcher closed", async () => {
    const { peer, dispatcher, sink, writer } = bridged();
    const events: string[] = [];
    sink.on('finish', () => events.push(`finish closed=${String(dispatcher.closed)}`));
    sink.on('close', () => events.push(`close closed=${String(dispatcher.closed)}`));
    const received = collect(peer);
    writer.write('bye\n');
    writer.close();
    expect(sink.readableEnded).to.equal(true);
    expect((await received).toString()).to.equal('bye\n');
    await writer.waitClosed();
    expect(events).to.deep.equal(['finish closed=false', 'close closed=true']);
    expect(sink.destroyed).to.equal(true);
    expect(sink.closed).to.equal(true);
    expect((dispatcher as TrackedDispatcher).closes).to.equal(1);
  });

  it("destroy(error) drops what is queued, resets the connection, and emits 'error' then 'close'", async () => {
    const { peer, dispatcher, sink } = bridged();
    peer.pause();
    sink.write(pattern(64 * 1024));
    expect(sink.writableLength).to.be.above(0);
    const events: string[] = [];
    sink.on('error', (error: Error) => events.push(`error ${error.message}`));
    sink.on('close', () => events.push('close'));
    const peerError = once(peer, 'error').then(([error]) => (error as NodeJS.ErrnoException).code);
    sink.destroy(new Error('boom'));
    expect(sink.destroyed).to.equal(true);
    expect(sink.writableLength).to.equal(0);
    expect(sink.writableNeedDrain).to.equal(false);
    expect(sink.write(Buffer.from('x'))).to.equal(false);
    await new Promise((resolve) => sink.once('close', resolve));
    expect(events).to.deep.equal(['error boom', 'close']);
    expect(dispatcher.closed).to.equal(true);
    expect(await peerError).to.equal('ECONNRESET');
  });

  it('the dispatcher closing destroys it: drain() and waitClosed() settle, nothing queued is kept', async () => {
    const { peer, dispatcher, sink, writer } = bridged();
    peer.pause();
    peer.on('error', () => {});
    writer.write(pattern(100 * 1024));
    const draining = writer.drain().then(
      () => 'resolved',
      (error: Error) => error.name,
    );
    await turns(10);
    expect(sink.writableLength).to.be.above(0);
    dispatcher.close();
    expect(sink.destroyed).to.equal(true);
    expect(sink.writableLength).to.equal(0);
    // The dispatcher's own close lingers until the peer has read what it had taken and ended;
    // then the transport is released, and drain() rejects.
    peer.resume();
    peer.end();
    expect(await draining).to.equal('ConnectionClosedError');
    await writer.waitClosed();
    expect(sink.closed).to.equal(true);
  });

  it('an empty write sends nothing and says whether there is room', async () => {
    const { peer, sink } = bridged();
    let bytes = 0;
    peer.on('data', (chunk: Buffer) => (bytes += chunk.length));
    expect(sink.write(Buffer.alloc(0))).to.equal(true);
    peer.pause();
    sink.write(pattern(64 * 1024));
    expect(sink.write(Buffer.alloc(0))).to.equal(false);
    expect(sink.writableLength).to.be.above(0);
    peer.resume();
    await eventually(() => (bytes === 64 * 1024 ? true : undefined));
  });

  it("a write from the dispatcher's 'close' listener (before the bridge hears of the close) fails the transport", async () => {
    const { peer, dispatcher, sink } = bridged();
    peer.resume();
    const errors: unknown[] = [];
    sink.on('error', (error: unknown) => errors.push(error));
    let accepted: boolean | undefined;
    dispatcher.on('close', () => (accepted = sink.write(pattern(1024))));
    dispatcher.close();
    expect(accepted).to.equal(false);
    expect(sink.destroyed).to.equal(true);
    await new Promise((resolve) => sink.once('close', resolve));
    expect(errors).to.have.length(1);
    expect((errors[0] as Error).name).to.equal('ConnectionClosedError');
  });

  it('over loopback TCP: 4 MiB to a client that reads late arrive intact, then a graceful close', async () => {
    const adapted: ReturnType<typeof toStreams>[] = [];
    const { port } = await listenOn(fixture.map, (socket, map) => {
      const dispatcher = new TrackedDispatcher({ socket, map });
      adapted.push(toStreams(dispatcher));
      return dispatcher;
    });
    fixture.running = loop({ map: fixture.map });
    const socket: net.Socket = await connectClient({ host: '127.0.0.1', port });
    fixture.cleanup.push(() => socket.destroy());
    socket.pause();
    const { writer } = await eventually(() => adapted[0]);
    const sink = writer.transport;
    const data = pattern(4 * 1024 * 1024);
    let maxQueued = 0;
    const writing = (async () => {
      for (let at = 0; at < data.length; at += 64 * 1024) {
        writer.write(data.subarray(at, at + 64 * 1024));
        maxQueued = Math.max(maxQueued, sink.writableLength);
        await writer.drain();
      }
      writer.close();
    })();
    await turns(50);
    const received = collect(socket);
    socket.resume();
    await writing;
    expect((await received).equals(data)).to.equal(true);
    await writer.waitClosed();
    // Bounded by the high-water mark (one write over it at most).
    expect(maxQueued).to.be.at.most(2 * 64 * 1024);
    expect(sink.closed).to.equal(true);
  });
});
