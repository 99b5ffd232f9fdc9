// Chunking invariance: however a byte stream is cut into chunks, AsyncChat (byte terminator) and
// StreamReader#readUntil() frame it into the same messages, and fail at the same message when one
// is longer than the limit.
import { expect } from 'chai';
import fc from 'fast-check';
import { AsyncChat, SocketMap, loop } from '../../src/legacy/index.js';
import { IncompleteReadError, LimitOverrunError, StreamReader } from '../../src/modern/index.js';
import {
  chunked,
  chunkings,
  cut,
  framedBytes,
  label,
  microtasks,
  until,
} from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { findPrefixAtEnd } from '../../src/legacy/_terminator.js';
import { kAtEof } from '../../src/legacy/_internal.js';

const TERMINATORS = ['\n', '\r\n', 'aba'].map((t) => Buffer.from(t));
// "No limit" for both implementations (StreamReader needs an integer).
const HUGE = 1 << 20;

/**
 * The outcome of framing a stream: the messages (without terminators) before the end, then
 * either end-of-stream with the unterminated tail, or a limit overrun at message `index`.
 *
 * "The same point": both implementations deliver exactly messages 0..index-1 and then fail,
 * where `index` is the first terminated message longer than the limit. Both agree on that for
 * every chunking. They differ by design only on the unterminated tail at end-of-stream, whose
 * last bytes might still have been the start of a terminator:
 * - AsyncChat counts the bytes it collected, and holds back a partial terminator at the end
 *   (asynchat's `find_prefix_at_end`): it fails when `tail.length - heldBack > limit`. At
 *   end-of-stream the held-back bytes are delivered without a limit check.
 * - readUntil() follows asyncio: it fails once `buffered + 1 - separator.length > limit`, so a
 *   tail of up to `limit + separator.length - 1` bytes ends with IncompleteReadError.
 */
type Outcome =
  | { messages: Buffer[]; end: 'eof'; tail: Buffer }
  | { messages: Buffer[]; end: 'limit'; index: number };

/** The reference: split at each leftmost terminator, then apply the limit as `rule` does. */
function frame(data: Buffer, terminator: Buffer, limit: number, rule: 'chat' | 'reader'): Outcome {
  const messages: Buffer[] = [];
  let start = 0;
  for (;;) {
    const index = data.indexOf(terminator, start);
    if (index === -1) break;
    messages.push(data.subarray(start, index));
    start = index + terminator.length;
  }
  const tail = data.subarray(start);
  const over = messages.findIndex((m) => m.length > limit);
  if (over !== -1) return { messages: messages.slice(0, over), end: 'limit', index: over };
  const tailOver =
    rule === 'chat'
      ? tail.length - findPrefixAtEnd(tail, terminator) > limit
      : tail.length + 1 - terminator.length > limit;
  if (tailOver) return { messages, end: 'limit', index: messages.length };
  return { messages, end: 'eof', tail };
}

const hex = (buffers: readonly Buffer[]): string[] => buffers.map((b) => b.toString('hex'));

function expectSame(actual: Outcome, expected: Outcome): void {
  expect(hex(actual.messages)).to.deep.equal(hex(expected.messages));
  expect(actual.end).to.equal(expected.end);
  if (actual.end === 'limit' && expected.end === 'limit') {
    expect(actual.index).to.equal(expected.index);
  }
  if (actual.end === 'eof' && expected.end === 'eof') {
    expect(actual.tail.toString('hex')).to.equal(expected.tail.toString('hex'));
  }
}

/** Records messages; `parts` holds what was collected since the last terminator. */
class Recorder extends AsyncChat {
  messages: Buffer[] = [];
  parts: Buffer[] = [];
  errors: unknown[] = [];
  closes = 0;
  override collectIncomingData(data: Buffer): void {
    expect(data.length, 'collectIncomingData() got an empty chunk').to.be.greaterThan(0);
    // Copy: a received chunk may be a view of a buffer that is reused.
    this.parts.push(Buffer.from(data));
  }
  override foundTerminator(): void {
    this.messages.push(Buffer.concat(this.parts.splice(0)));
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

/** Fed directly: `recv()` returns the chunk under test, so handleRead() sees exactly it. */
class FedChat extends Recorder {
  next: Buffer = Buffer.alloc(0);
  override recv(_bufferSize: number): Buffer {
    const chunk = this.next;
    this.next = Buffer.alloc(0);
    return chunk;
  }
}

function chatDirect(chunks: Buffer[], terminator: Buffer, limit: number): Outcome {
  const chat = new FedChat({ maxIncoming: limit, map: new SocketMap() });
  chat.setTerminator(terminator);
  for (const chunk of chunks) {
    chat.next = chunk;
    chat.handleRead();
    // An overrun goes to handleError() (which closes by default), once.
    if (chat.errors.length > 0) {
      expect(chat.errors).to.have.length(1);
      expect(chat.errors[0]).to.be.instanceOf(LimitOverrunError);
      return { messages: chat.messages, end: 'limit', index: chat.messages.length };
    }
  }
  // No transport: end-of-stream by hand. The tail (held until its terminator, and the held-back
  // partial terminator) goes to collectIncomingData() then.
  chat[kAtEof]();
  return { messages: chat.messages, end: 'eof', tail: Buffer.concat(chat.parts) };
}

async function chatOverDuplex(
  chunks: Buffer[],
  terminator: Buffer,
  limit: number,
  inBufferSize: number,
): Promise<Outcome> {
  const map = new SocketMap();
  const [client, server] = duplexPair({ highWaterMark: 1024 });
  client.on('error', () => {}); // writes after the chat closed fail with a reset: expected
  const chat = new Recorder({ socket: server, map, maxIncoming: limit });
  chat.acInBufferSize = inBufferSize;
  chat.setTerminator(terminator);
  const done = loop({ map, timeout: Infinity });
  try {
    for (const chunk of chunks) {
      if (chat.closed) break;
      client.write(chunk);
      // One chunk at a time: wait until the chat has taken it all (or closed).
      await until(() => chat.closed || server.readableLength === 0);
    }
    client.end();
    await done;
  } finally {
    map.closeAll();
    client.destroy();
  }
  expect(chat.closes, 'handleClose() runs once').to.equal(1);
  expect(map.size).to.equal(0);
  if (chat.errors.length > 0) {
    expect(chat.errors).to.have.length(1);
    expect(chat.errors[0]).to.be.instanceOf(LimitOverrunError);
    return { messages: chat.messages, end: 'limit', index: chat.messages.length };
  }
  return { messages: chat.messages, end: 'eof', tail: Buffer.concat(chat.parts) };
}

async function readerOutcome(
  chunks: Buffer[],
  terminator: Buffer,
  limit: number,
  jitter: number[],
): Promise<Outcome> {
  const reader = new StreamReader({ limit });
  const messages: Buffer[] = [];
  const consumer = (async (): Promise<Outcome> => {
    for (;;) {
      try {
        const message = await reader.readUntil(terminator);
        expect(message.subarray(message.length - terminator.length).equals(terminator)).to.equal(
          true,
        );
        messages.push(Buffer.from(message.subarray(0, message.length - terminator.length)));
      } catch (error) {
        if (error instanceof IncompleteReadError) {
          expect(error.expected).to.equal(null);
          return { messages, end: 'eof', tail: error.partial };
        }
        if (error instanceof LimitOverrunError) {
          return { messages, end: 'limit', index: messages.length };
        }
        throw error;
      }
    }
  })();
  let settled = false;
  void consumer.finally(() => (settled = true));
  for (const [i, chunk] of chunks.entries()) {
    if (settled) break;
    reader.feedData(chunk);
    await microtasks(jitter[i % Math.max(1, jitter.length)] ?? 0);
  }
  if (!settled) reader.feedEof();
  return consumer;
}

describe('Chunking invariance (property)', () => {
  for (const terminator of TERMINATORS) {
    const name = JSON.stringify(terminator.toString());
    const limits = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(HUGE));

    it(`AsyncChat fed directly frames any chunking like the reference, terminator ${name}`, () => {
      fc.assert(
        fc.property(chunked(framedBytes(terminator)), limits, ({ data, chunks }, limit) => {
          const expected = frame(data, terminator, limit, 'chat');
          const actual = chatDirect(chunks, terminator, limit);
          expectSame(actual, expected);
        }),
        { numRuns: 300 },
      );
    });

    it(`StreamReader#readUntil() frames any chunking like the reference, terminator ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          chunked(framedBytes(terminator)),
          limits,
          fc.array(fc.nat(4), { maxLength: 8 }),
          async ({ data, chunks }, limit, jitter) => {
            expectSame(
              await readerOutcome(chunks, terminator, limit, jitter),
              frame(data, terminator, limit, 'reader'),
            );
          },
        ),
        { numRuns: 200 },
      );
    });

    it(`AsyncChat over an in-memory duplex inside loop() agrees with readUntil(), terminator ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          chunked(framedBytes(terminator, { maxLength: 120 })),
          limits,
          fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(65536)),
          async ({ data, chunks }, limit, inBufferSize) => {
            const chat = await chatOverDuplex(chunks, terminator, limit, inBufferSize);
            expectSame(chat, frame(data, terminator, limit, 'chat'));
            const reader = await readerOutcome(chunks, terminator, limit, []);
            expectSame(reader, frame(data, terminator, limit, 'reader'));
            // The two differ only on a tail within `separator.length - 1` bytes of the limit.
            const { tail } = frame(data, terminator, HUGE, 'chat') as { tail: Buffer };
            if (tail.length <= limit || tail.length >= limit + terminator.length) {
              expectSame(reader, chat);
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it('the reference splits on the leftmost terminator and applies each tail rule', () => {
    const term = Buffer.from('aba');
    const outcome = frame(Buffer.from('xababay'), term, HUGE, 'chat');
    expect(outcome).to.deep.include({ end: 'eof' });
    expect(outcome.messages.map(String)).to.deep.equal(['x']);
    const lines = Buffer.from('ab\nabcdef\nx');
    expect(frame(lines, Buffer.from('\n'), 3, 'reader')).to.deep.include({
      end: 'limit',
      index: 1,
    });
    // A 4-byte tail, limit 3, terminator "\r\n": the chat has collected 4 bytes, the reader
    // still waits for a separator that could start at the 4th byte.
    const tail = Buffer.from('ok\r\nabcd');
    expect(frame(tail, Buffer.from('\r\n'), 3, 'chat')).to.deep.include({ end: 'limit', index: 1 });
    expect(frame(tail, Buffer.from('\r\n'), 3, 'reader')).to.deep.include({ end: 'eof' });
  });

  it('a tail one byte past the limit: AsyncChat fails, readUntil() ends with IncompleteReadError', async () => {
    const chunks = [Buffer.from('ok\r\nab'), Buffer.from('cd')];
    const chat = await chatOverDuplex(chunks, Buffer.from('\r\n'), 3, 65536);
    expect(chat).to.deep.include({ end: 'limit', index: 1 });
    const reader = await readerOutcome(chunks, Buffer.from('\r\n'), 3, []);
    expect(reader.end).to.equal('eof');
    expect(reader.messages.map(String)).to.deep.equal(['ok']);
  });

  describe('every split of a short input (exhaustive, up to 3 chunks)', () => {
    for (const terminator of TERMINATORS) {
      const data = Buffer.concat([
        Buffer.from('hello world'),
        terminator,
        Buffer.from("I'm not dead yet!"),
        terminator,
        Buffer.from('z'),
        terminator.subarray(0, terminator.length - 1),
      ]);
      it(`AsyncChat and readUntil() agree on all splits, terminator ${JSON.stringify(terminator.toString())}`, async () => {
        let count = 0;
        for (const chunks of chunkings(data, { maxParts: 3 })) {
          count++;
          const direct = chatDirect(chunks, terminator, HUGE);
          expect(direct.messages.map(String), label(chunks)).to.deep.equal([
            'hello world',
            "I'm not dead yet!",
          ]);
          expectSame(
            await readerOutcome(chunks, terminator, HUGE, []),
            frame(data, terminator, HUGE, 'reader'),
          );
        }
        // Splits of n + 1 bytes into at most 3 parts: 1 + C(n, 1) + C(n, 2).
        const n = data.length - 1;
        expect(count).to.equal(1 + n + (n * (n - 1)) / 2);
      });
    }
  });

  describe('switching terminators: a line header, then a counted body', () => {
    /** Header "<length>\n" then that many bytes, as a chat switching setTerminator(n) sees it. */
    class CountedChat extends Recorder {
      override foundTerminator(): void {
        const part = Buffer.concat(this.parts.splice(0));
        if (typeof this.getTerminator() === 'number') {
          this.messages.push(part);
          this.setTerminator('\n');
          return;
        }
        const length = Number(part.toString());
        // A count of 0 would mean "collect everything": an empty body is complete at once.
        if (length === 0) this.messages.push(Buffer.alloc(0));
        else this.setTerminator(length);
      }
    }

    it('AsyncChat (setTerminator(n)) and readLine() + readExactly() frame any chunking alike', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 8 }),
          fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 30 }),
          async (bodies, offsets) => {
            const data = Buffer.concat(
              bodies.flatMap((b) => [Buffer.from(`${b.length}\n`), Buffer.from(b)]),
            );
            const chunks = cut(data, offsets);
            const expected = bodies.map((b) => Buffer.from(b).toString('hex'));

            const map = new SocketMap();
            const [client, server] = duplexPair({ allowHalfOpen: true });
            const chat = new CountedChat({ socket: server, map });
            chat.setTerminator('\n');
            const done = loop({ map, timeout: Infinity });
            try {
              for (const chunk of chunks) {
                client.write(chunk);
                await until(() => chat.closed || server.readableLength === 0);
              }
              client.end();
              await done;
            } finally {
              map.closeAll();
              client.destroy();
            }
            expect(hex(chat.messages)).to.deep.equal(expected);
            expect(chat.errors).to.deep.equal([]);

            const reader = new StreamReader();
            const read = (async () => {
              const out: Buffer[] = [];
              for (;;) {
                const header = await reader.readLine();
                if (header.length === 0) return out;
                out.push(await reader.readExactly(Number(header.toString())));
              }
            })();
            for (const chunk of chunks) {
              reader.feedData(chunk);
              await microtasks(1);
            }
            reader.feedEof();
            expect(hex(await read)).to.deep.equal(expected);
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});
