import { getEventListeners, once } from 'node:events';
import net from 'node:net';
import { expect } from 'chai';
import {
  ConnectionClosedError,
  fromDuplex,
  openConnection,
  TimeoutError,
  type StreamPair,
} from '../../src/modern/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { tick, rejection } from '../helpers/async.js';

describe('openConnection()', () => {
  let server: net.Server;
  let accepted: net.Socket[];
  let pairs: StreamPair[];

  /** A raw node:net server on 127.0.0.1; `onSocket` decides what it does. */
  async function listen(onSocket: (socket: net.Socket) => void, pause = false): Promise<number> {
    server = net.createServer({ pauseOnConnect: pause, allowHalfOpen: true }, (socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      onSocket(socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as net.AddressInfo).port;
  }

  async function connect(port: number, limit?: number): Promise<StreamPair> {
    const pair = await openConnection({ host: '127.0.0.1', port, limit });
    pairs.push(pair);
    return pair;
  }

  beforeEach(() => {
    accepted = [];
    pairs = [];
  });
  afterEach(async () => {
    for (const { writer } of pairs) writer.abort();
    for (const socket of accepted) socket.destroy();
    if (server?.listening) {
      server.close();
      await once(server, 'close');
    }
  });

  it('round-trips lines over TCP and closes cleanly', async () => {
    const port = await listen((socket) => socket.pipe(socket));
    const { reader, writer } = await connect(port);
    const socket = writer.transport;
    // Only the wiring's listeners remain: none of the connect phase.
    expect(socket.listenerCount('error')).to.equal(2); // reader wiring + writer
    expect(socket.listenerCount('connect')).to.equal(0);
    writer.write('hello\n');
    await writer.drain();
    expect((await reader.readLine()).toString()).to.equal('hello\n');
    const peer = writer.getExtraInfo('peername') as { host: string; port: number };
    expect(peer).to.deep.include({ host: '127.0.0.1', port });
    expect(writer.getExtraInfo('sockname')).to.have.property('port').that.is.a('number');
    writer.writeEof();
    expect((await reader.read()).length).to.equal(0);
    expect(reader.atEof()).to.equal(true);
    writer.close();
    await writer.waitClosed();
  });

  it('rejects with the socket error when nothing listens', async () => {
    const port = await listen(() => undefined);
    server.close();
    await once(server, 'close');
    const error = await rejection(openConnection({ host: '127.0.0.1', port }));
    expect(error).to.have.property('code', 'ECONNREFUSED');
  });

  it('rejects with signal.reason when aborted during the TLS handshake and destroys the socket', async () => {
    // The peer accepts TCP but never answers the TLS handshake.
    const port = await listen((socket) => socket.resume());
    const controller = new AbortController();
    const pending = openConnection({
      host: '127.0.0.1',
      port,
      tls: true,
      signal: controller.signal,
    });
    while (accepted.length === 0) await tick();
    const reason = new Error('user gave up');
    controller.abort(reason);
    expect(await rejection(pending)).to.equal(reason);
    expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
    await once(accepted[0]!, 'end'); // the client side is gone
  });

  it('rejects with TimeoutError after `timeout` ms and destroys the socket', async () => {
    const port = await listen((socket) => socket.resume());
    const error = await rejection(
      openConnection({ host: '127.0.0.1', port, tls: true, timeout: 30 }),
    );
    expect(error).to.be.instanceOf(TimeoutError);
    expect((error as TimeoutError).ms).to.equal(30);
    await once(accepted[0]!, 'end'); // the client side is gone
  });

  it('rejects at once for an already-aborted signal and for bad options', async () => {
    const reason = new Error('no');
    expect(
      await rejection(openConnection({ port: 1, signal: AbortSignal.abort(reason) })),
    ).to.equal(reason);
    expect(await rejection(openConnection({}))).to.be.instanceOf(TypeError);
    expect(await rejection(openConnection({ port: 1, limit: 0 }))).to.be.instanceOf(RangeError);
    expect(await rejection(openConnection({ port: 1, timeout: -1 }))).to.be.instanceOf(RangeError);
  });

  it('drain() waits while the peer does not read and resolves once it reads', async () => {
    const port = await listen(() => undefined, true);
    const { writer } = await connect(port);
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    for (let i = 0; i < 2000 && !writer.transport.writableNeedDrain; i++) writer.write(chunk);
    expect(writer.transport.writableNeedDrain).to.equal(true);
    let settled = false;
    const pending = writer.drain().finally(() => (settled = true));
    for (let i = 0; i < 5; i++) await tick();
    expect(settled).to.equal(false);
    while (accepted.length === 0) await tick();
    accepted[0]!.resume();
    await pending;
    expect(settled).to.equal(true);
  });

  it('a reset peer makes drain() and the pending read reject with ConnectionClosedError', async () => {
    const port = await listen(() => undefined, true);
    const { reader, writer } = await connect(port);
    const read = rejection(reader.readLine());
    const chunk = Buffer.alloc(64 * 1024, 0x63);
    for (let i = 0; i < 2000 && !writer.transport.writableNeedDrain; i++) writer.write(chunk);
    const drained = rejection(writer.drain());
    while (accepted.length === 0) await tick();
    accepted[0]!.resetAndDestroy();
    const [readError, drainError] = await Promise.all([read, drained]);
    expect(readError).to.be.instanceOf(ConnectionClosedError);
    expect(drainError).to.be.instanceOf(ConnectionClosedError);
    // The connection is gone: a late write is dropped, never thrown into the process.
    expect(() => writer.write('late')).not.to.throw();
  });

  it('the reader pauses the socket above 2 × limit and resumes it once read below limit', async () => {
    const payload = Buffer.alloc(256 * 1024, 0x64);
    const port = await listen((socket) => socket.end(payload));
    const { reader, writer } = await connect(port, 1024);
    const socket = writer.transport as net.Socket;
    while (!reader.paused && !reader.atEof()) await tick();
    expect(reader.paused).to.equal(true);
    expect(socket.isPaused()).to.equal(true);
    expect(reader.bufferedLength).to.be.below(2 * 1024 + 65 * 1024);
    let total = 0;
    for await (const chunk of reader.chunks()) {
      total += chunk.length;
      if (!reader.paused) expect(socket.isPaused()).to.equal(false);
    }
    expect(total).to.equal(payload.length);
  });
});

describe('fromDuplex()', () => {
  it('gives a reader and a writer over an in-memory duplex pair, both ways', async () => {
    const [a, b] = duplexPair({ allowHalfOpen: true });
    const left = fromDuplex(a);
    const right = fromDuplex(b);
    left.writer.write('ping\n');
    expect((await right.reader.readLine()).toString()).to.equal('ping\n');
    right.writer.write('pong\n');
    expect((await left.reader.readLine()).toString()).to.equal('pong\n');
    left.writer.writeEof();
    expect((await right.reader.read()).length).to.equal(0);
    left.writer.close();
    right.writer.close();
    await Promise.all([left.writer.waitClosed(), right.writer.waitClosed()]);
  });

  it('pauses the duplex through the reader flow control and resumes it when read', async () => {
    const [a, b] = duplexPair({ highWaterMark: 1024, allowHalfOpen: true });
    const { reader, writer } = fromDuplex(a, { limit: 100 });
    b.on('error', () => undefined); // b sees our abort as a reset
    try {
      b.write(Buffer.alloc(4096, 0x41));
      while (!reader.paused) await tick();
      expect(a.isPaused()).to.equal(true);
      await reader.readExactly(4096);
      expect(reader.paused).to.equal(false);
      expect(a.isPaused()).to.equal(false);
    } finally {
      writer.abort();
      b.destroy();
    }
  });

  it('turns a reset of the peer into ConnectionClosedError in the reader', async () => {
    const [a, b] = duplexPair({ allowHalfOpen: true });
    const { reader, writer } = fromDuplex(a);
    const pending = rejection(reader.readLine());
    b.destroy();
    const error = await pending;
    expect(error).to.be.instanceOf(ConnectionClosedError);
    expect((error as Error).cause).to.have.property('code', 'ECONNRESET');
    await writer.waitClosed();
  });
});
