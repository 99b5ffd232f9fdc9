// Producers and push(): any sequence of push(string | bytes), pushWithProducer(SimpleProducer or
// a custom producer) and a final closeWhenDone() reaches the peer in order, byte for byte, then
// end-of-stream; whatever the transport's buffer size and the chat's output chunk size.
import { expect } from 'chai';
import fc from 'fast-check';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  AsyncChat,
  SimpleProducer,
  SocketMap,
  loop,
  type Producer,
} from '../../src/legacy/index.js';
import { microtasks } from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';

type Item = string | Uint8Array;
type Op =
  | { kind: 'push'; data: Item }
  | { kind: 'simple'; data: Item; bufferSize: number }
  | { kind: 'custom'; pieces: Item[] };

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.uint8Array({ maxLength: 40 }),
);

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('push' as const), data: item }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('simple' as const),
      data: item,
      bufferSize: fc.integer({ min: 1, max: 9 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('custom' as const),
      // A custom producer ends at its first empty piece: keep the pieces non-empty.
      pieces: fc.array(
        item.filter((i) => i.length > 0),
        { maxLength: 5 },
      ),
    }),
  },
);

function bytesOf(data: Item): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
}

function expectedBytes(ops: readonly Op[]): Buffer {
  return Buffer.concat(
    ops.flatMap((o) => (o.kind === 'custom' ? o.pieces.map(bytesOf) : [bytesOf(o.data)])),
  );
}

function apply(chat: AsyncChat, o: Op): void {
  if (o.kind === 'push') chat.push(o.data);
  else if (o.kind === 'simple') chat.pushWithProducer(new SimpleProducer(o.data, o.bufferSize));
  else {
    const pieces = [...o.pieces];
    const producer: Producer = { more: () => pieces.shift() ?? '' };
    chat.pushWithProducer(producer);
  }
}

class Sender extends AsyncChat {
  closes = 0;
  errors: unknown[] = [];
  override collectIncomingData(): void {}
  override foundTerminator(): void {}
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

function collect(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Applies the ops in batches (the first before the loop runs), then closeWhenDone(). */
async function sendAll(
  transport: Duplex,
  ops: readonly Op[],
  batches: readonly number[],
  outBufferSize: number,
): Promise<Sender> {
  const map = new SocketMap();
  const chat = new Sender({ socket: transport, map });
  chat.acOutBufferSize = outBufferSize;
  let next = 0;
  for (const [i, size] of batches.entries()) {
    for (const o of ops.slice(next, next + size)) apply(chat, o);
    next += size;
    if (i === 0) break;
  }
  // A bound for failure cases only: a stuck sender fails the run instead of hanging the suite.
  const done = loop({ map, timeout: Infinity, signal: AbortSignal.timeout(5_000) });
  for (const size of batches.slice(1)) {
    await microtasks(size);
    for (const o of ops.slice(next, next + size)) apply(chat, o);
    next += size;
  }
  for (const o of ops.slice(next)) apply(chat, o);
  chat.closeWhenDone();
  try {
    await done;
  } finally {
    map.closeAll();
  }
  expect(chat.closes).to.equal(1);
  expect(chat.errors).to.deep.equal([]);
  expect(chat.outgoingQueueLength).to.equal(0);
  expect(map.size).to.equal(0);
  return chat;
}

describe('Producers and push() (property)', () => {
  it('any sequence of pushes and producers arrives in order, byte for byte (in-memory duplex)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 30 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 6 }),
        fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constant(65536)),
        fc.integer({ min: 1, max: 64 }),
        async (ops, batches, outBufferSize, highWaterMark) => {
          const [client, server] = duplexPair({ highWaterMark });
          try {
            const received = collect(client);
            await sendAll(server, ops, batches, outBufferSize);
            expect((await received).toString('hex')).to.equal(expectedBytes(ops).toString('hex'));
          } finally {
            client.destroy();
            server.destroy();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('any sequence of pushes and producers arrives in order, byte for byte (loopback TCP)', async () => {
    const before = activeResources();
    const accepted: net.Socket[] = [];
    const listener = net.createServer({ allowHalfOpen: true }, (socket) => accepted.push(socket));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as net.AddressInfo;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { maxLength: 40 }),
          fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 6 }),
          fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constant(65536)),
          async (ops, batches, outBufferSize) => {
            const client = net.connect({ port, host: '127.0.0.1' });
            try {
              const received = collect(client);
              await new Promise<void>((resolve) => client.once('connect', resolve));
              while (accepted.length === 0) await new Promise((r) => setImmediate(r));
              const socket = accepted.shift()!;
              await sendAll(socket, ops, batches, outBufferSize);
              expect((await received).toString('hex')).to.equal(expectedBytes(ops).toString('hex'));
            } finally {
              client.destroy();
            }
          },
        ),
        { numRuns: 20 },
      );
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
    // fast-check itself keeps a Timeout after an async run: compare the socket handles only.
    await expectNoLeaks(before, { types: ['TCPServerWrap', 'TCPSocketWrap'] });
  });

  it('a large SimpleProducer behind pushes arrives whole through a tiny transport buffer', async () => {
    const [client, server] = duplexPair({ highWaterMark: 64 });
    const body = Buffer.alloc(200_000, 'x');
    const ops: Op[] = [
      { kind: 'push', data: 'head\n' },
      { kind: 'simple', data: body, bufferSize: 4096 },
      { kind: 'push', data: '\ntail' },
    ];
    const received = collect(client);
    await sendAll(server, ops, [3], 65536);
    const got = await received;
    expect(got.length).to.equal(body.length + 10);
    expect(got.equals(expectedBytes(ops))).to.equal(true);
  });
});
