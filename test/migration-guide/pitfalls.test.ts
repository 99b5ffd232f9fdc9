import { expect } from 'chai';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  Dispatcher,
  LimitOverrunError,
  SocketMap,
  loop,
  type Address,
} from '../../src/legacy/index.js';
import { StreamReader, fromDuplex, startServer } from '../../src/modern/index.js';
import {
  BusyNotifier,
  QuietNotifier,
} from '../../migration-guide/examples/pitfalls/busy-writable.js';
import {
  BlockingHashServer,
  OffloadingHashServer,
  hashBlocking,
  hashInPool,
} from '../../migration-guide/examples/pitfalls/blocking-handler.js';
import {
  readLineCancellable,
  readLineRacing,
} from '../../migration-guide/examples/pitfalls/cancelled-read.js';
import {
  AsyncWorkEcho,
  FragileEcho,
  fragileEcho,
} from '../../migration-guide/examples/pitfalls/errors.js';
import {
  CarefulUpload,
  CarelessUpload,
} from '../../migration-guide/examples/pitfalls/ignored-send.js';
import { Recorder } from '../../migration-guide/examples/pitfalls/ordering.js';
import {
  LineCollector,
  readRequestBounded,
  readRequestUnbounded,
} from '../../migration-guide/examples/pitfalls/unbounded-buffers.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestClient, eventually, turn } from './_support.js';

/** Everything `stream` delivers until end-of-stream. */
function collect(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** A connected loopback pair: [our end, the peer's end]. */
async function loopbackPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const peer = await accepted;
  server.close();
  return [client, peer];
}

/** A legacy server on its own map: each accepted socket is wrapped by `wrap`. */
async function legacyServer(
  wrap: (socket: Duplex, map: SocketMap) => Dispatcher,
): Promise<{ port: number; map: SocketMap; done: Promise<void> }> {
  const map = new SocketMap();
  class Listener extends Dispatcher {
    override handleAccepted(socket: Duplex, _address: Address): void {
      wrap(socket, map);
    }
  }
  const listener = new Listener({ map });
  listener.bind({ host: '127.0.0.1', port: 0 });
  await listener.listen();
  const address = listener.address() as { port: number };
  return { port: address.port, map, done: loop({ map }) };
}

const transports = [
  ['in-memory duplex', (): Promise<[Duplex, Duplex]> => Promise.resolve(duplexPair())],
  ['loopback TCP', loopbackPair],
] as const;

describe('migration-guide pitfalls', () => {
  describe('a writable() that always returns true', () => {
    for (const [name, makePair] of transports) {
      it(`busy-loops: handleWrite() runs every round, the fix only when needed (${name})`, async () => {
        const map = new SocketMap();
        const [a, peerA] = await makePair();
        const [b, peerB] = await makePair();
        const busy = new BusyNotifier({ socket: a, map });
        const quiet = new QuietNotifier({ socket: b, map });
        try {
          busy.notify('hello\n');
          quiet.notify('hello\n');
          const gotBusy = new Promise((resolve) => peerA.once('data', resolve));
          const gotQuiet = new Promise((resolve) => peerB.once('data', resolve));
          await loop({ map, count: 100, timeout: 0 }); // 100 rounds, none of them waits
          expect(String(await gotBusy)).to.equal('hello\n');
          expect(String(await gotQuiet)).to.equal('hello\n');
          expect(busy.handleWriteCalls).to.equal(100); // 99 of them with nothing to write
          expect(quiet.handleWriteCalls).to.equal(1);
        } finally {
          map.closeAll();
          peerA.destroy();
          peerB.destroy();
        }
      });
    }
  });

  describe("ignoring send()'s return value", () => {
    const data = Buffer.alloc(1024 * 1024, 'x');
    for (const [name, makePair] of transports) {
      it(`loses all but what the transport took at once; the fix delivers all (${name})`, async () => {
        const map = new SocketMap();
        const [a, peerA] = await makePair();
        const [b, peerB] = await makePair();
        const careless = new CarelessUpload({ socket: a, map }, data);
        const careful = new CarefulUpload({ socket: b, map }, data);
        try {
          const [lossy, whole] = await Promise.all([
            collect(peerA),
            collect(peerB),
            loop({ map, timeout: 1_000 }),
          ]);
          expect(lossy.length).to.equal(careless.socket?.writableHighWaterMark);
          expect(lossy.length).to.be.below(data.length);
          expect(whole.equals(data)).to.equal(true);
          expect(careful.closed).to.equal(true);
        } finally {
          map.closeAll();
          peerA.destroy();
          peerB.destroy();
        }
      });
    }
  });

  describe('blocking work inside a handler', () => {
    it('the blocking and the offloaded server give the same answers', async () => {
      const expected = hashBlocking('secret');
      expect(await hashInPool('secret')).to.equal(expected);
      for (const Server of [BlockingHashServer, OffloadingHashServer]) {
        const server = await legacyServer((socket, map) => new Server(socket, map));
        const client = await TestClient.connect(server.port);
        try {
          await client.send('HASH secret\nPING\n');
          expect(await client.line()).to.equal(expected);
          expect(await client.line()).to.equal('PONG');
        } finally {
          client.destroy();
          server.map.closeAll();
          await server.done;
        }
      }
    });

    it('while offloaded work is pending, the loop keeps serving other connections', async () => {
      let release = (_hex: string): void => undefined;
      const handlers: OffloadingHashServer[] = [];
      const server = await legacyServer((socket, map) => {
        const handler = new OffloadingHashServer(socket, map);
        handler.work = () => new Promise((resolve) => (release = resolve)); // held by the test
        handlers.push(handler);
        return handler;
      });
      const slow = await TestClient.connect(server.port);
      const other = await TestClient.connect(server.port);
      try {
        await slow.send('HASH secret\n');
        await eventually(() => handlers[0]?.readable() === false); // the work is running
        await other.send('PING\n');
        expect(await other.line()).to.equal('PONG'); // served while the work is pending
        release('cafe');
        expect(await slow.line()).to.equal('cafe');
      } finally {
        slow.destroy();
        other.destroy();
        server.map.closeAll();
        await server.done;
      }
    });
  });

  describe('unbounded buffers', () => {
    const flood = Buffer.alloc(512 * 1024, 'a'); // half a MiB and no "\n"

    it('legacy: maxIncoming: Infinity collects it all; a bound closes the connection', async () => {
      const map = new SocketMap();
      const [a, peerA] = duplexPair();
      const [b, peerB] = duplexPair();
      const unbounded = new LineCollector({ socket: a, map, maxIncoming: Infinity });
      const bounded = new LineCollector({ socket: b, map, maxIncoming: 4096 });
      const running = loop({ map, timeout: 1_000 });
      try {
        peerA.write(flood);
        peerB.write(flood);
        peerA.end();
        peerB.end();
        await eventually(() => bounded.closed && unbounded.closed);
        expect(unbounded.collectedBytes).to.equal(flood.length); // all of it, in memory
        expect(unbounded.errors).to.deep.equal([]);
        expect(bounded.errors).to.have.length(1);
        expect(bounded.errors[0]).to.be.instanceOf(LimitOverrunError);
        expect(bounded.collectedBytes).to.be.at.most(4096);
      } finally {
        map.closeAll();
        await running;
      }
    });

    it('modern: read() to end-of-stream holds everything; readLine() stops at the limit', async () => {
      const [a, peerA] = duplexPair();
      const [b, peerB] = duplexPair();
      const unbounded = fromDuplex(a, { limit: 4096 });
      const bounded = fromDuplex(b, { limit: 4096 });
      try {
        peerA.end(flood);
        const all = await readRequestUnbounded(unbounded.reader);
        expect(all.length).to.equal(flood.length); // held in memory until end-of-stream
        for (let offset = 0; offset < flood.length; offset += 8192) {
          peerB.write(flood.subarray(offset, offset + 8192)); // as a TCP peer would, in pieces
        }
        let error: unknown;
        await readRequestBounded(bounded.reader).catch((e: unknown) => (error = e));
        expect(error).to.be.instanceOf(LimitOverrunError);
        await turn();
        expect(bounded.reader.paused).to.equal(true); // the peer is pushed back
        // 2 × limit, plus what the transport had already pushed when it was paused.
        expect(bounded.reader.bufferedLength).to.be.at.most(2 * 4096 + b.readableHighWaterMark);
      } finally {
        peerA.destroy();
        peerB.destroy();
        unbounded.writer.abort();
        bounded.writer.abort();
      }
    });
  });

  describe('reading after cancellation', () => {
    it('a raced read stays pending: the next read fails and the line is taken by nobody', async () => {
      const reader = new StreamReader();
      reader.feedData(Buffer.from('hel'));
      const controller = new AbortController();
      const result = readLineRacing(reader, controller.signal);
      controller.abort(new Error('deadline'));
      expect(await result).to.equal('gave up');
      let error: unknown;
      await reader.readLine().catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(Error); // one read at a time: the orphan still reads
      reader.feedData(Buffer.from('lo\n'));
      await turn();
      expect(reader.bufferedLength).to.equal(0); // the orphan took "hello\n"; it is lost
    });

    it('a cancelled read leaves the bytes in the reader for the next read', async () => {
      const reader = new StreamReader();
      reader.feedData(Buffer.from('hel'));
      const controller = new AbortController();
      const result = readLineCancellable(reader, controller.signal);
      controller.abort(new Error('deadline'));
      expect(await result).to.equal('gave up');
      expect(reader.bufferedLength).to.equal(3);
      reader.feedData(Buffer.from('lo\n'));
      expect(String(await reader.readLine())).to.equal('hello\n');
    });
  });

  describe('an error in a callback versus a rejected promise', () => {
    it('legacy: a thrown error reaches handleError() of that dispatcher only', async () => {
      const handlers: FragileEcho[] = [];
      const server = await legacyServer((socket, map) => {
        const handler = new FragileEcho({ socket, map });
        handlers.push(handler);
        return handler;
      });
      const good = await TestClient.connect(server.port);
      const bad = await TestClient.connect(server.port);
      try {
        await eventually(() => handlers.length === 2);
        await bad.send('boom\n');
        await bad.closed; // its connection was closed
        await good.send('still here\n');
        expect(await good.line()).to.equal('still here');
        const errors = handlers.flatMap((handler) => handler.errors);
        expect(errors).to.have.length(1);
        expect((errors[0] as Error).message).to.equal('Cannot echo: boom');
      } finally {
        good.destroy();
        server.map.closeAll();
        await server.done;
      }
    });

    it("legacy: async work's rejection reaches handleError() when caught and passed on", async () => {
      const handlers: AsyncWorkEcho[] = [];
      const server = await legacyServer((socket, map) => {
        const handler = new AsyncWorkEcho({ socket, map });
        handlers.push(handler);
        return handler;
      });
      const client = await TestClient.connect(server.port);
      try {
        await client.send('ok\n');
        expect(await client.line()).to.equal('ok');
        await client.send('boom\n');
        await client.closed;
        expect(handlers[0]?.errors.map((e) => (e as Error).message)).to.deep.equal([
          'Cannot echo: boom (async)',
        ]);
      } finally {
        server.map.closeAll();
        await server.done;
      }
    });

    it("modern: a rejected handler goes to the server's 'error' event; others go on", async () => {
      const server = await startServer(fragileEcho, { host: '127.0.0.1', port: 0 });
      const reported: { message: string; id: number | undefined }[] = [];
      server.on('error', (error, context) =>
        reported.push({ message: (error as Error).message, id: context?.id }),
      );
      const { port } = server.address() as { port: number };
      const good = await TestClient.connect(port);
      const bad = await TestClient.connect(port);
      try {
        await good.send('first\n');
        expect(await good.line()).to.equal('first');
        await bad.send('boom\n');
        await bad.closed;
        await good.send('still here\n');
        expect(await good.line()).to.equal('still here');
        expect(reported).to.deep.equal([{ message: 'Cannot echo: boom', id: 2 }]);
      } finally {
        good.destroy();
        await server.shutdown({ timeout: 0 });
      }
    });
  });

  describe('ordering between the two worlds', () => {
    it('legacy handlers run only inside loop(); microtasks run after the whole round', async () => {
      const map = new SocketMap();
      const log: string[] = [];
      const [a, peerA] = duplexPair();
      const [b, peerB] = duplexPair();
      const first = new Recorder({ socket: a, map }, 'A', log);
      const second = new Recorder({ socket: b, map }, 'B', log);
      try {
        peerA.write('x');
        peerB.write('y');
        await eventually(() => a.readableLength > 0 && b.readableLength > 0);
        expect(log).to.deep.equal([]); // data is there, but no loop runs: nothing happens
        await loop({ map, count: 1, timeout: 0 });
        expect(log).to.deep.equal([
          'A: handleRead',
          'B: handleRead',
          'A: microtask',
          'B: microtask',
        ]);
        expect(first.closed || second.closed).to.equal(false);
      } finally {
        map.closeAll();
        peerA.destroy();
        peerB.destroy();
      }
    });

    it('modern code runs as data arrives, one microtask after another', async () => {
      const [a, peer] = duplexPair();
      const { reader, writer } = fromDuplex(a);
      const log: string[] = [];
      try {
        const reading = (async () => {
          log.push(String(await reader.readLine()).trim());
          log.push(String(await reader.readLine()).trim());
        })();
        peer.write('one\ntwo\n');
        await reading; // no loop() anywhere
        expect(log).to.deep.equal(['one', 'two']);
      } finally {
        peer.destroy();
        writer.abort();
      }
    });
  });
});
