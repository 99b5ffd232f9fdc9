import { expect } from 'chai';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Duplex } from 'node:stream';
import {
  AsyncChat,
  LimitOverrunError,
  SimpleProducer,
  SocketMap,
  loop,
  type Producer,
} from '../../src/legacy/index.js';
import { kQueued } from '../../src/legacy/_internal.js';
import { legacyStats } from '../../src/legacy/_stats.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import {
  RecordingChat,
  collect,
  connectClient,
  eventually,
  listenOn,
  nextEvent,
  readBytes,
} from './_support.js';

/** A chat that only sends: what the test queues, then closeWhenDone(). */
class Sender extends AsyncChat {
  override collectIncomingData(): void {}
  override foundTerminator(): void {}
  override logInfo(): void {}
}

/**
 * Feeds `input` to a RecordingChat over an in-memory pair, at most `chunkSize` bytes per
 * handleRead(), then end-of-stream; resolves once the chat has closed.
 */
async function feed(
  input: string | Buffer,
  options: {
    terminator?: string | number | null;
    chunkSize?: number;
    maxIncoming?: number;
    setup?: (chat: RecordingChat) => void;
    Chat?: typeof RecordingChat;
  } = {},
): Promise<RecordingChat> {
  const map = new SocketMap();
  const [peer, socket] = duplexPair();
  const Chat = options.Chat ?? RecordingChat;
  const chat = new Chat({ socket, map, maxIncoming: options.maxIncoming });
  if (options.terminator !== undefined) chat.setTerminator(options.terminator);
  if (options.chunkSize !== undefined) chat.acInBufferSize = options.chunkSize;
  options.setup?.(chat);
  peer.resume();
  peer.end(input);
  await loop({ map });
  return chat;
}

/** A RecordingChat whose handleError() records the error and keeps the connection. */
class Forgiving extends RecordingChat {
  override handleError(error: unknown): void {
    this.errors.push(error);
  }
}

/**
 * A port of smtpd's command loop: lines end with CRLF, at most 512 bytes each; an over-long line
 * is answered "500 Error: line too long" from handleError(), and the session goes on.
 */
class SmtpLike extends AsyncChat {
  #parts: Buffer[] = [];
  overruns = 0;
  constructor(options: { socket: Duplex; map: SocketMap }) {
    super({ ...options, maxIncoming: 512 });
    this.setTerminator('\r\n');
    this.push('220 ready\r\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }
  override foundTerminator(): void {
    const line = Buffer.concat(this.#parts.splice(0)).toString('latin1');
    if (line === 'QUIT') {
      this.push('221 Bye\r\n');
      this.closeWhenDone();
    } else {
      this.push(`250 ${line}\r\n`);
    }
  }
  override handleError(error: unknown): void {
    if (error instanceof LimitOverrunError) {
      this.overruns++;
      this.push('500 Error: line too long\r\n');
      return;
    }
    super.handleError(error);
  }
  override logInfo(): void {}
}

const SMTP_INPUT = `HELO a\r\n${'x'.repeat(4000)}\r\nNOOP\r\nMAIL FROM:<a@b>\r\nQUIT\r\n`;
const SMTP_REPLIES =
  '220 ready\r\n250 HELO a\r\n500 Error: line too long\r\n250 NOOP\r\n250 MAIL FROM:<a@b>\r\n221 Bye\r\n';

/** Writes `input` to `stream` in pieces of `size` bytes, one write per event-loop turn. */
async function writeInPieces(stream: Duplex, input: string, size: number): Promise<void> {
  const bytes = Buffer.from(input, 'latin1');
  for (let offset = 0; offset < bytes.length; offset += size) {
    stream.write(bytes.subarray(offset, offset + size));
    if (size < bytes.length) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Bytes kept alive by `pieces`: the sizes of their distinct backing ArrayBuffers. */
function retainedBytes(pieces: readonly Buffer[]): number {
  const buffers = new Set<ArrayBufferLike>(pieces.map((piece) => piece.buffer));
  let sum = 0;
  for (const buffer of buffers) sum += buffer.byteLength;
  return sum;
}

describe('AsyncChat', () => {
  describe('byte-string terminators (CPython test_asynchat line_terminator_check)', () => {
    for (const terminator of ['\n', '\r\n', 'qqq']) {
      for (const chunkSize of [1, 2, 3, 4, 7, 65536]) {
        it(`splits on ${JSON.stringify(terminator)} with input in chunks of ${chunkSize}`, async () => {
          const input = `hello world${terminator}I'm not dead yet!${terminator}`;
          const chat = await feed(input, { terminator, chunkSize });
          expect(chat.messages).to.deep.equal(['hello world', "I'm not dead yet!"]);
          expect(chat.closes).to.equal(1);
        });
      }
    }

    it('delivers empty lines as empty messages (test_empty_line)', async () => {
      const chat = await feed("hello world\n\nI'm not dead yet!\n\n", {
        terminator: '\n',
        chunkSize: 1,
      });
      expect(chat.messages).to.deep.equal(['hello world', '', "I'm not dead yet!", '']);
    });

    it('never calls collectIncomingData with an empty chunk (held-back partial terminators)', async () => {
      const chat = await feed('ab\r\r\ncd\r\n\r\n', { terminator: '\r\n', chunkSize: 1 });
      expect(chat.messages).to.deep.equal(['ab\r', 'cd', '']);
      expect(chat.collected.every((c) => c.length > 0)).to.equal(true);
    });

    it('encodes a string terminator as UTF-8', async () => {
      const chat = await feed(Buffer.from('a€b€', 'utf8'), { terminator: '€', chunkSize: 2 });
      expect(chat.messages).to.deep.equal(['a', 'b']);
      expect(chat.getTerminator()).to.deep.equal(Buffer.from('€', 'utf8'));
    });

    it('accepts a Uint8Array terminator, and copies it', async () => {
      const terminator = new Uint8Array([0, 0]);
      const chat = await feed(Buffer.from([1, 0, 0, 2, 0, 0]), {
        setup: (c) => {
          c.setTerminator(terminator);
          terminator[0] = 9;
        },
      });
      expect(chat.messages.map((m) => Buffer.from(m, 'latin1'))).to.deep.equal([
        Buffer.from([1]),
        Buffer.from([2]),
      ]);
    });

    it('hands out a copy of its terminator: changing it changes no framing, its own or another chat’s', async () => {
      let other: RecordingChat | undefined;
      const chat = await feed('a;b;', {
        setup: (c) => {
          c.setTerminator(';');
          other = new RecordingChat({ socket: duplexPair()[1], map: c.map });
          other.setTerminator(';');
          (c.getTerminator() as Buffer)[0] = 0x62; // 'b'
          (other.getTerminator() as Buffer)[0] = 0x61; // 'a'
          other.close();
        },
      });
      expect(chat.messages).to.deep.equal(['a', 'b']);
      expect(chat.getTerminator()).to.deep.equal(Buffer.from(';'));
      expect(other!.getTerminator()).to.deep.equal(Buffer.from(';'));
    });
  });

  describe('numeric terminators', () => {
    for (const length of [1, 5, 13, 31]) {
      it(`collects exactly ${length} bytes, then foundTerminator() and terminator 0 (test_numeric_terminator)`, async () => {
        const data = "hello world, I'm not dead yet!\n";
        const chat = await feed(data, { terminator: length, chunkSize: 3 });
        expect(chat.messages).to.deep.equal([data.slice(0, length)]);
        // After the count, terminator 0 collects everything else, as asynchat does.
        expect(chat.getTerminator()).to.equal(0);
        expect(Buffer.concat(chat.collected).toString()).to.equal(data);
      });
    }

    it('switches between lines and counted bodies from foundTerminator()', async () => {
      class Framed extends RecordingChat {
        override foundTerminator(): void {
          const message = Buffer.concat(this.parts.splice(0)).toString();
          this.messages.push(message);
          if (this.getTerminator() === 0) this.setTerminator('\n');
          else if (message.startsWith('LEN ')) this.setTerminator(Number(message.slice(4)));
        }
      }
      const map = new SocketMap();
      const [peer, socket] = duplexPair();
      const chat = new Framed({ socket, map });
      chat.setTerminator('\n');
      chat.acInBufferSize = 2;
      peer.resume();
      peer.end('LEN 5\nab\ncdLEN 0\nend\n');
      await loop({ map });
      // As in asynchat, a terminator of 0 is "no terminator": the rest is collected as is.
      expect(chat.messages).to.deep.equal(['LEN 5', 'ab\ncd', 'LEN 0']);
      expect(Buffer.concat(chat.parts).toString()).to.equal('end\n');
    });

    it('rejects a negative or fractional number with RangeError', () => {
      const chat = new RecordingChat();
      expect(() => chat.setTerminator(-1)).to.throw(
        RangeError,
        'Expected `terminator` to be a non-negative integer, got `-1` (number)',
      );
      expect(() => chat.setTerminator(1.5)).to.throw(RangeError);
      expect(() => chat.setTerminator({} as unknown as string)).to.throw(TypeError);
      expect(chat.getTerminator()).to.equal(null);
    });
  });

  describe('null terminator', () => {
    it('delivers everything and never calls foundTerminator() (test_none_terminator)', async () => {
      const data = "hello world, I'm not dead yet!\n";
      const chat = await feed(data, { terminator: null, chunkSize: 4 });
      expect(chat.messages).to.deep.equal([]);
      expect(Buffer.concat(chat.collected).toString()).to.equal(data);
    });

    it('is the behaviour before any setTerminator()', async () => {
      const chat = await feed('no terminator set\n');
      expect(chat.getTerminator()).to.equal(null);
      expect(chat.messages).to.deep.equal([]);
      expect(Buffer.concat(chat.collected).toString()).to.equal('no terminator set\n');
    });
  });

  describe('end-of-stream', () => {
    it('delivers a held-back partial terminator to collectIncomingData() before handleClose()', async () => {
      const order: string[] = [];
      const chat = await feed('tail\r', {
        terminator: '\r\n',
        setup: (c) => {
          c.on('close', () => order.push(`close after ${Buffer.concat(c.parts).toString()}`));
        },
      });
      expect(order).to.deep.equal(['close after tail\r']);
      expect(chat.messages).to.deep.equal([]);
      expect(chat.closes).to.equal(1);
    });
  });

  describe('maxIncoming', () => {
    it('reports an over-long line as LimitOverrunError, closes that connection only', async () => {
      const map = new SocketMap();
      const { server, port } = await listenOn(map, (socket, m) => {
        const chat = new RecordingChat({ socket, map: m, maxIncoming: 1024 });
        chat.setTerminator('\n');
        return chat;
      });
      const done = loop({ map });
      const good = await connectClient({ host: '127.0.0.1', port });
      const bad = await connectClient({ host: '127.0.0.1', port });
      try {
        const badEnded = collect(bad);
        bad.write(Buffer.alloc(4096, 0x61));
        await badEnded;
        const badChat = server.accepted.find((c) => c.errors.length > 0) as RecordingChat;
        expect(badChat.errors).to.have.length(1);
        const error = badChat.errors[0] as LimitOverrunError;
        expect(error).to.be.instanceOf(LimitOverrunError);
        expect(error.consumed).to.be.above(1024);
        expect(error.message).to.match(
          /^Cannot collect incoming data: \d+ bytes without a terminator exceed maxIncoming \(1024\)$/,
        );
        expect(Buffer.concat(badChat.collected).length).to.be.at.most(1024);
        expect(badChat.closed).to.equal(true);
        expect(badChat.closes).to.equal(1);
        const goodChat = server.accepted.find((c) => c !== badChat) as RecordingChat;
        const line = nextEvent(goodChat, 'read');
        good.write('still here\n');
        await line;
        expect(goodChat.messages).to.deep.equal(['still here']);
        expect(map.size).to.equal(2);
      } finally {
        good.destroy();
        bad.destroy();
        map.closeAll();
        await done;
      }
    });

    it('defaults to 1 MiB, is off with Infinity, and is validated', async () => {
      const big = Buffer.alloc(3 << 20, 0x62);
      const limited = await feed(big, { terminator: '\n' });
      expect(limited.maxIncoming).to.equal(1024 * 1024);
      expect(limited.errors).to.have.length(1);
      expect(limited.errors[0]).to.be.instanceOf(LimitOverrunError);
      const unlimited = await feed(big, { terminator: '\n', maxIncoming: Infinity });
      expect(unlimited.errors).to.deep.equal([]);
      expect(Buffer.concat(unlimited.collected).equals(big)).to.equal(true);
      expect(unlimited.closes).to.equal(1);
      expect(() => new RecordingChat({ maxIncoming: 0 })).to.throw(
        RangeError,
        'Expected `maxIncoming` to be a positive integer or Infinity, got `0` (number)',
      );
    });

    it('counts only the bytes of the current message', async () => {
      const line = 'x'.repeat(600);
      const chat = await feed(`${line}\n${line}\n${line}\n`, {
        terminator: '\n',
        chunkSize: 100,
        maxIncoming: 1000,
      });
      expect(chat.errors).to.deep.equal([]);
      expect(chat.messages).to.deep.equal([line, line, line]);
    });
  });

  describe('maxIncoming overrun: reported once, discarded up to its terminator (DESIGN "Decisions")', () => {
    const max = 64;
    for (const terminator of ['\n', '\r\n', 'qqq']) {
      for (const chunkSize of [1, 2, 3, 5, 64, 65536]) {
        it(`a handleError() that ignores it loses only that message (${JSON.stringify(terminator)}, chunks of ${chunkSize})`, async () => {
          const t = terminator;
          const long = 'L'.repeat(3 * max + 1);
          const atLimit = 'y'.repeat(max);
          const input = `first${t}${long}${t}second${t}${atLimit}${t}third${t}`;
          const chat = await feed(input, {
            terminator,
            chunkSize,
            maxIncoming: max,
            Chat: Forgiving,
          });
          expect(chat.messages).to.deep.equal(['first', 'second', atLimit, 'third']);
          expect(chat.errors).to.have.length(1);
          const error = chat.errors[0] as LimitOverrunError;
          expect(error).to.be.instanceOf(LimitOverrunError);
          expect(error.code).to.equal('ERR_DB_LIMIT_OVERRUN');
          expect(error.consumed).to.be.above(max);
          // None of the over-long message reached collectIncomingData().
          expect(Buffer.concat(chat.collected).toString('latin1')).to.not.include('L');
          expect(chat.closes).to.equal(1); // at end-of-stream, not because of the error
        });
      }
    }

    it('two over-long messages in a row are reported once each; the tail of one at end-of-stream is dropped', async () => {
      const long = 'L'.repeat(200);
      const chat = await feed(`${long}\n${long}\nok\n${long}`, {
        terminator: '\n',
        chunkSize: 7,
        maxIncoming: 64,
        Chat: Forgiving,
      });
      expect(chat.messages).to.deep.equal(['ok']);
      expect(chat.errors).to.have.length(3);
      expect(Buffer.concat(chat.collected).toString('latin1')).to.equal('ok');
    });

    it('the default handleError() still closes: nothing after the over-long message is read', async () => {
      const chat = await feed(`first\n${'L'.repeat(100)}\nsecond\n`, {
        terminator: '\n',
        maxIncoming: 64,
      });
      expect(chat.messages).to.deep.equal(['first']);
      expect(chat.errors).to.have.length(1);
      expect(chat.errors[0]).to.be.instanceOf(LimitOverrunError);
      expect(chat.closed).to.equal(true);
      expect(chat.closes).to.equal(1);
    });

    for (const pieceSize of [1, 3, 1000, SMTP_INPUT.length]) {
      it(`a port of smtpd answers "line too long" and the session goes on, over TCP (writes of ${pieceSize} bytes)`, async () => {
        const map = new SocketMap();
        const { server, port } = await listenOn(
          map,
          (socket, m) => new SmtpLike({ socket, map: m }),
        );
        const done = loop({ map });
        const client = await connectClient({ host: '127.0.0.1', port });
        try {
          client.setNoDelay(true);
          const replies = collect(client);
          await writeInPieces(client, SMTP_INPUT, pieceSize);
          expect((await replies).toString('latin1')).to.equal(SMTP_REPLIES);
          expect(server.accepted[0]!.overruns).to.equal(1);
        } finally {
          client.destroy();
          map.closeAll();
          await done;
        }
      });
    }

    for (const pieceSize of [1, 2, 513, SMTP_INPUT.length]) {
      it(`a port of smtpd answers "line too long" and the session goes on, over an in-memory pair (writes of ${pieceSize} bytes)`, async () => {
        const map = new SocketMap();
        const [peer, socket] = duplexPair();
        const chat = new SmtpLike({ socket, map });
        const done = loop({ map });
        try {
          const replies = collect(peer);
          await writeInPieces(peer, SMTP_INPUT, pieceSize);
          expect((await replies).toString('latin1')).to.equal(SMTP_REPLIES);
          expect(chat.overruns).to.equal(1);
        } finally {
          peer.destroy();
          map.closeAll();
          await done;
        }
      });
    }
  });

  describe('memory with tiny segments (issue #11: coalesced, not one Buffer per read)', () => {
    const bytes = 20_000;
    const cases: Array<{ name: string; terminator: string | number; maxIncoming?: number }> = [
      { name: 'a line (maxIncoming 1 MiB)', terminator: '\n' },
      { name: 'a line with maxIncoming: Infinity', terminator: '\n', maxIncoming: Infinity },
      { name: `a counted body (terminator ${bytes})`, terminator: bytes },
    ];
    for (const { name, terminator, maxIncoming } of cases) {
      it(`${name} read one byte at a time reaches collectIncomingData() in a few pieces`, async () => {
        const body = 'a'.repeat(bytes);
        let pieces: Buffer[] = [];
        const chat = await feed(typeof terminator === 'number' ? body : `${body}\n`, {
          terminator,
          chunkSize: 1,
          maxIncoming,
          setup: (c) => {
            c.on('read', () => {
              if (c.messages.length === 1 && pieces.length === 0) pieces = [...c.collected];
            });
          },
        });
        expect(chat.messages).to.deep.equal([body]);
        // 20,000 one-byte reads: at most one piece per 4 KiB (blocks are 16 KiB), plus the last.
        expect(pieces.length)
          .to.be.at.least(1)
          .and.at.most(Math.ceil(bytes / 4096) + 2);
        expect(pieces.reduce((sum, piece) => sum + piece.length, 0)).to.equal(bytes);
        // The pieces keep alive at most twice their bytes (blocks grow by doubling).
        expect(retainedBytes(pieces)).to.be.at.most(2 * bytes + 256);
      });
    }

    it('a message that arrives in one read is handed over as that read, uncopied', async () => {
      const chat = await feed('one\ntwo\n', { terminator: '\n' });
      expect(chat.messages).to.deep.equal(['one', 'two']);
      expect(chat.collected).to.have.length(2);
      expect(chat.collected[0]!.buffer).to.equal(chat.collected[1]!.buffer);
    });

    it('100,000 one-byte TCP-like segments of an unfinished line cost memory in proportion to bytes (measured with --expose-gc)', async () => {
      // In a fresh process: heap plus external memory retained by a README-style LineEcho
      // (`#parts.push(data)`) that has read 100,000 one-byte chunks, each its own ArrayBuffer as
      // a socket delivers them, of a line not yet ended. One Buffer per read costs ~200 bytes per
      // byte; the coalesced collection ~1-2 (blocks grow by doubling), so the bound of 8 fails
      // by far before and passes by far after.
      const legacy = fileURLToPath(new URL('../../src/legacy/index.ts', import.meta.url));
      const pair = fileURLToPath(new URL('../helpers/duplex-pair.ts', import.meta.url));
      const script = `
        const { AsyncChat, SocketMap, loop } = await import(process.argv[1]);
        const { duplexPair } = await import(process.argv[2]);
        const N = 100000;
        class LineEcho extends AsyncChat {
          parts = [];
          lines = [];
          collectIncomingData(data) { this.parts.push(data); }
          foundTerminator() { this.lines.push(Buffer.concat(this.parts.splice(0)).length); }
          handleRead() { do super.handleRead(); while (this.socket.readableLength > 0 && !this.closed); }
          logInfo() {}
        }
        const map = new SocketMap();
        const [peer, socket] = duplexPair();
        const chat = new LineEcho({ socket, map });
        chat.acInBufferSize = 1;
        chat.setTerminator('\\n');
        const done = loop({ map });
        const turn = () => new Promise((resolve) => setImmediate(resolve));
        const settle = async () => { for (let i = 0; i < 1000 && (peer.writableLength > 0 || socket.readableLength > 0); i++) await turn(); };
        await turn();
        globalThis.gc(); globalThis.gc();
        const before = process.memoryUsage();
        for (let sent = 0; sent < N; sent += 1000) {
          for (let i = 0; i < 1000; i++) peer.write(Buffer.from(new ArrayBuffer(1)).fill(120));
          await settle();
        }
        await turn();
        globalThis.gc(); globalThis.gc();
        const after = process.memoryUsage();
        const grown = after.heapUsed - before.heapUsed + (after.external - before.external);
        peer.end('\\n');
        await done;
        console.log(JSON.stringify({ perByte: grown / N, lines: chat.lines }));
      `;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          '--expose-gc',
          '--import',
          './scripts/ts-register.mjs',
          '--input-type=module',
          '-e',
          script,
          legacy,
          pair,
        ],
        { timeout: 30_000 },
      );
      const { perByte, lines } = JSON.parse(stdout) as { perByte: number; lines: number[] };
      expect(lines).to.deep.equal([100_000]);
      expect(perByte).to.be.below(8);
    });
  });

  describe('a peer that resets mid-message', () => {
    function ourListeners(stream: Duplex): number {
      let count = 0;
      for (const event of stream.eventNames()) {
        for (const listener of stream.listeners(event)) if (listener.name.startsWith('#')) count++;
      }
      return count;
    }

    it('over TCP: handleClose once, never handleError, nothing leaked', async () => {
      const map = new SocketMap();
      const { server, port } = await listenOn(map, (socket, m) => {
        const chat = new RecordingChat({ socket, map: m });
        chat.setTerminator('\n');
        return chat;
      });
      const done = loop({ map });
      const client = await connectClient({ host: '127.0.0.1', port });
      try {
        client.write('complete\nhalf a mess');
        const chat = await eventually(() => {
          const accepted = server.accepted[0];
          return accepted !== undefined && accepted.messages.length > 0 ? accepted : undefined;
        });
        const closed = nextEvent(chat, 'close');
        client.resetAndDestroy();
        await closed;
        expect(chat.messages).to.deep.equal(['complete']);
        expect(chat.closes).to.equal(1);
        expect(chat.errors).to.deep.equal([]);
        expect(map.size).to.equal(1); // only the listener is left
        const transport = chat.socket as Duplex;
        if (!transport.closed) await new Promise((resolve) => transport.once('close', resolve));
        await new Promise((resolve) => setImmediate(resolve));
        expect(ourListeners(transport)).to.equal(0);
      } finally {
        client.destroy();
        map.closeAll();
        await done;
      }
      expect(map.size).to.equal(0);
    });

    it('over an in-memory pair: handleClose once, never handleError', async () => {
      const map = new SocketMap();
      const [peer, socket] = duplexPair();
      const chat = new RecordingChat({ socket, map });
      chat.setTerminator('\n');
      const done = loop({ map });
      const firstLine = nextEvent(chat, 'read');
      peer.write('line\npartial');
      await firstLine;
      peer.destroy();
      await done;
      expect(chat.messages).to.deep.equal(['line']);
      expect(chat.closes).to.equal(1);
      expect(chat.errors).to.deep.equal([]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(ourListeners(socket)).to.equal(0);
    });
  });

  describe('output', () => {
    it('closeWhenDone(): all pushed data arrives, then end-of-stream (test_close_when_done)', async () => {
      const map = new SocketMap();
      const payload = Buffer.alloc(1 << 20);
      for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
      const { server, port } = await listenOn(map, (socket, m) => {
        const chat = new Sender({ socket, map: m });
        chat.push(payload);
        chat.push('and a string €');
        chat.closeWhenDone();
        chat.push('never sent');
        return chat;
      });
      const done = loop({ map });
      const client = await connectClient({ host: '127.0.0.1', port });
      try {
        const received = await collect(client);
        expect(received.length).to.equal(payload.length + Buffer.byteLength('and a string €'));
        expect(received.subarray(0, payload.length).equals(payload)).to.equal(true);
        expect(received.subarray(payload.length).toString()).to.equal('and a string €');
        server.close();
        await done;
        expect(server.accepted[0]?.closed).to.equal(true);
      } finally {
        client.destroy();
        map.closeAll();
      }
    });

    it('sends a SimpleProducer in order (test_simple_producer)', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair({ highWaterMark: 64 });
      const sender = new Sender({ socket: a, map });
      const receiver = new RecordingChat({ socket: b, map });
      receiver.setTerminator('\n');
      const data = "hello world\nI'm not dead yet!\n".repeat(20);
      sender.pushWithProducer(new SimpleProducer(data, 8));
      sender.closeWhenDone();
      await loop({ map });
      expect(receiver.messages).to.deep.equal(data.trimEnd().split('\n'));
      expect(sender.outgoingQueueLength).to.equal(0);
    });

    it('sends string producers as UTF-8, and push() strings too', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair();
      const sender = new Sender({ socket: a, map });
      const receiver = new RecordingChat({ socket: b, map });
      receiver.setTerminator('\n');
      const pieces = ['héllo ', 'wörld\n', '', 'ignored after the empty piece'];
      const producer: Producer = { more: () => pieces.shift() ?? '' };
      sender.push('first\n');
      sender.pushWithProducer(producer);
      sender.push(new TextEncoder().encode('last\n'));
      sender.closeWhenDone();
      await loop({ map });
      const lines = receiver.messages.map((m) => Buffer.from(m, 'latin1').toString('utf8'));
      expect(lines).to.deep.equal(['first', 'héllo wörld', 'last']);
    });

    it('queues output pushed before the connection is established (connecting)', async () => {
      const map = new SocketMap();
      const { server, port } = await listenOn(map, (socket, m) => {
        const chat = new RecordingChat({ socket, map: m });
        chat.setTerminator('\n');
        return chat;
      });
      const client = new Sender({ map });
      client.connect({ host: '127.0.0.1', port });
      client.push('queued early\n');
      client.closeWhenDone();
      const done = loop({ map });
      await nextEvent(client, 'close');
      const handler = await eventually(() => {
        const chat = server.accepted[0];
        return chat?.closed === true ? chat : undefined;
      });
      expect(handler.messages).to.deep.equal(['queued early']);
      server.close();
      await done;
    });

    it('several push()es in one tick reach the transport as one write', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair();
      const sender = new Sender({ socket: a, map });
      const writes: number[] = [];
      const write = a.write.bind(a) as (chunk: Buffer) => boolean;
      a.write = ((chunk: Buffer) => {
        writes.push(chunk.length);
        return write(chunk);
      }) as typeof a.write;
      const received = readBytes(b, 12);
      sender.push('line');
      sender.push('\n');
      sender.push(Buffer.from('second\n'));
      expect(sender.outgoingQueueLength).to.equal(3);
      expect((await received).toString()).to.equal('line\nsecond\n');
      expect(writes).to.deep.equal([12]);
      expect(sender.outgoingQueueLength).to.equal(0);
      sender.close();
      b.destroy();
    });

    it("inside loop(): a handler's push()es leave as one write once the round's handlers ran, its own and another chat's", async () => {
      const map = new SocketMap();
      const writes = new Map<string, number[]>();
      const spy = (name: string, socket: Duplex): void => {
        const list: number[] = [];
        writes.set(name, list);
        const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
        socket.write = ((chunk: Buffer) => {
          list.push(chunk.length);
          return write(chunk);
        }) as typeof socket.write;
      };
      const [a, aPeer] = duplexPair();
      const [b, bPeer] = duplexPair();
      const other = new Sender({ socket: b, map });
      let queuedAtReturn = -1;
      // A reader that answers on its own connection and on the other chat's, piece by piece.
      class Answering extends Sender {
        override handleRead(): void {
          if (this.recv(1024).length === 0) return;
          this.push('ok');
          this.push(' ');
          this.push('done\n');
          other.push('seen');
          other.push('\n');
          queuedAtReturn = this.outgoingQueueLength;
        }
      }
      const chat = new Answering({ socket: a, map });
      spy('chat', a);
      spy('other', b);
      const running = loop({ map, timeout: 1_000 });
      const answered = readBytes(aPeer, 8);
      const seen = readBytes(bPeer, 5);
      aPeer.write('hello');
      expect((await answered).toString()).to.equal('ok done\n');
      expect((await seen).toString()).to.equal('seen\n');
      // Still queued when the handler returned: sent after it, one write per chat.
      expect(queuedAtReturn).to.equal(3);
      expect(writes.get('chat')).to.deep.equal([8]);
      expect(writes.get('other')).to.deep.equal([5]);
      chat.close();
      other.close();
      aPeer.destroy();
      bPeer.destroy();
      await running;
    });

    it('push() of the same short strings again and again, from two chats, sends each one', async () => {
      const map = new SocketMap();
      const [a1, b1] = duplexPair();
      const [a2, b2] = duplexPair();
      const one = new Sender({ socket: a1, map });
      const two = new Sender({ socket: a2, map });
      const received = [collect(b1), collect(b2)];
      for (let i = 0; i < 3; i++) {
        one.push('é\r\n');
        two.push('é\r\n');
        one.push(`${i}`);
        two.push('\n');
      }
      one.closeWhenDone();
      two.closeWhenDone();
      await loop({ map });
      const [first, second] = await Promise.all(received);
      expect(first!.toString()).to.equal('é\r\n0é\r\n1é\r\n2');
      expect(second!.toString()).to.equal('é\r\n\n'.repeat(3));
    });

    it('close() right after push() still hands the pushed bytes to the transport', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair();
      const sender = new Sender({ socket: a, map });
      const received = collect(b);
      sender.push('last words\n');
      sender.close();
      expect((await received).toString()).to.equal('last words\n');
      expect(sender.outgoingQueueLength).to.equal(0);
    });

    it('a push() from handleClose() while close() runs still reaches the peer', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair();
      class Goodbye extends Sender {
        override handleClose(): void {
          this.push('bye\n');
        }
      }
      const chat = new Goodbye({ socket: a, map });
      const received = collect(b);
      chat.close();
      expect(chat.closed).to.equal(true);
      expect((await received).toString()).to.equal('bye\n');
      expect(map.size).to.equal(0);
    });

    it('closeWhenDone() after push() outside the loop closes only inside the loop', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair();
      let closedInLoop: boolean | undefined;
      class Watched extends Sender {
        override handleClose(): void {
          closedInLoop = map.looping;
          this.close();
        }
      }
      const sender = new Watched({ socket: a, map });
      const received = collect(b);
      sender.push('bye\n');
      sender.closeWhenDone();
      await new Promise((resolve) => setImmediate(resolve));
      expect(closedInLoop).to.equal(undefined);
      expect(sender.outgoingQueueLength).to.equal(1);
      await loop({ map });
      expect(closedInLoop).to.equal(true);
      expect((await received).toString()).to.equal('bye\n');
    });

    it('nothing pushed after closeWhenDone() is sent, even from the same read (asynchat)', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair();
      class Quitter extends AsyncChat {
        #line: Buffer[] = [];
        constructor(socket: Duplex) {
          super({ socket, map });
          this.setTerminator('\n');
        }
        override collectIncomingData(data: Buffer): void {
          this.#line.push(data);
        }
        override foundTerminator(): void {
          const line = Buffer.concat(this.#line.splice(0)).toString();
          if (line === 'quit') {
            this.push('bye\n');
            this.closeWhenDone();
          } else this.push(`echo ${line}\n`);
        }
      }
      new Quitter(a);
      const received = collect(b);
      b.write('one\nquit\nnever answered\n'); // one chunk: all three lines in one handleRead()
      await loop({ map });
      expect((await received).toString()).to.equal('echo one\nbye\n');
      expect(map.size).to.equal(0);
    });

    it('pushWithProducer() asks the producer for its first piece at once (asynchat)', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair();
      const sender = new Sender({ socket: a, map });
      const received = collect(b);
      let state = 'before';
      let calls = 0;
      sender.pushWithProducer({
        more: () => (calls++ === 0 ? `${state}\n` : ''),
      });
      expect(calls).to.be.greaterThan(0); // not deferred: a later command cannot change it
      state = 'after';
      sender.closeWhenDone();
      await loop({ map });
      expect((await received).toString()).to.equal('before\n');
    });

    it('push() of a wrong type throws TypeError (Issue #12523)', () => {
      const chat = new Sender();
      expect(() => chat.push(42 as unknown as string)).to.throw(
        TypeError,
        'Expected `data` of push() to be a Uint8Array or a string, got `42` (number)',
      );
      expect(() => chat.push({} as unknown as string)).to.throw(TypeError);
      expect(() => chat.pushWithProducer('text' as unknown as Producer)).to.throw(
        TypeError,
        'Expected `producer` to have a more() method, got `text` (string)',
      );
    });

    it('discardBuffers() drops queued output, including a pending closeWhenDone()', async () => {
      const map = new SocketMap();
      const [a, b] = duplexPair({ highWaterMark: 16 });
      const sender = new Sender({ socket: a, map });
      sender.push(Buffer.alloc(1024));
      sender.closeWhenDone();
      expect(sender.outgoingQueueLength).to.equal(2);
      sender.discardBuffers();
      expect(sender.outgoingQueueLength).to.equal(0);
      expect(sender.writable()).to.equal(false);
      await loop({ map, count: 1, timeout: 1 });
      expect(sender.closed).to.equal(false);
      sender.close();
      b.destroy();
    });
  });

  describe('linear work on bulk traffic (regressions of a quadratic queue and search)', () => {
    /** Echoes each line back with two push()es, like the benchmark's line echo. */
    class LineEcho extends AsyncChat {
      #parts: Buffer[] = [];
      override collectIncomingData(data: Buffer): void {
        this.#parts.push(data);
      }
      override foundTerminator(): void {
        const parts = this.#parts;
        this.#parts = [];
        this.push(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        this.push('\n');
      }
      override logInfo(): void {}
    }

    it('echoes 1 MiB of 64-byte lines to a slow reader, scanning each byte once and moving queue items O(1) times', async () => {
      const map = new SocketMap();
      const [peer, socket] = duplexPair({ highWaterMark: 4096 });
      const chat = new LineEcho({ socket, map });
      chat.setTerminator('\n');
      const line = Buffer.from(`${'x'.repeat(63)}\n`);
      const lines = 16_384;
      const input = Buffer.concat(Array.from({ length: lines }, () => line));
      const scannedBefore = legacyStats.bytesScanned;
      const movesBefore = legacyStats.queueMoves;
      let maxQueued = 0;
      chat.on('read', () => {
        maxQueued = Math.max(maxQueued, chat.outgoingQueueLength);
      });
      const done = loop({ map });
      try {
        // The peer writes everything before it reads anything: the echo queues up in the chat.
        peer.write(input);
        await eventually(() => (chat.outgoingQueueLength > 4 * 1024 ? true : undefined));
        const echoed = await readBytes(peer, input.length);
        expect(echoed.equals(input)).to.equal(true);
      } finally {
        map.closeAll();
        peer.destroy();
        await done;
      }
      const scanned = legacyStats.bytesScanned - scannedBefore;
      const moves = legacyStats.queueMoves - movesBefore;
      expect(maxQueued).to.be.greaterThan(4 * 1024);
      // Every input byte examined exactly once by the terminator search.
      expect(scanned).to.equal(input.length);
      // The queue grew by doubling (the counter is live) and copied fewer items than its
      // capacity in all, < 2 × its peak length; an Array.shift() queue would copy the whole
      // queue per item sent.
      expect(moves).to.be.greaterThan(0);
      expect(moves).to.be.lessThan(2 * maxQueued);
    });
  });

  it('works as a client and server over TCP: a line echo', async () => {
    class LineEcho extends RecordingChat {
      override foundTerminator(): void {
        super.foundTerminator();
        this.push(`${this.messages.at(-1) ?? ''}\n`);
      }
    }
    const map = new SocketMap();
    const { server, port } = await listenOn(map, (socket: Duplex, m) => {
      const chat = new LineEcho({ socket, map: m });
      chat.setTerminator('\r\n');
      return chat;
    });
    const done = loop({ map });
    const client = await connectClient({ host: '127.0.0.1', port });
    try {
      const received = collect(client);
      client.write('one\r\ntw');
      client.end('o\r\n');
      expect((await received).toString()).to.equal('one\ntwo\n');
      server.close();
      await done;
      expect(server.accepted[0]?.closes).to.equal(1);
    } finally {
      client.destroy();
      map.closeAll();
    }
  });

  describe('the connection lifecycle', () => {
    /** A plain line echo with asynchat's DEFAULT handleClose(). */
    class PlainEcho extends AsyncChat {
      parts: Buffer[] = [];
      constructor(options: { socket: Duplex; map: SocketMap; maxOutgoing?: number }) {
        super(options);
        this.setTerminator('\n');
      }
      override collectIncomingData(data: Buffer): void {
        this.parts.push(data);
      }
      override foundTerminator(): void {
        this.parts.push(Buffer.from('\n'));
        this.push(Buffer.concat(this.parts.splice(0)));
      }
      override logInfo(): void {}
    }

    it('half-close: 200,000 lines, end, read 2 s later: every reply arrives (default handleClose)', async () => {
      const map = new SocketMap();
      try {
        let chat!: PlainEcho;
        const { port } = await listenOn(
          map,
          (socket, m) => (chat = new PlainEcho({ socket, map: m })),
        );
        const done = loop({ map, timeout: 100 });
        const client = await connectClient({ host: '127.0.0.1', port });
        const lines: string[] = [];
        for (let i = 0; i < 200_000; i++) lines.push(`line ${i}\n`);
        const input = lines.join('');
        client.pause();
        client.end(input);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const collecting = collect(client);
        client.resume();
        const replies = await collecting;
        expect(chat.closed).to.equal(true);
        expect(replies.length).to.equal(Buffer.byteLength(input));
        expect(replies.toString() === input).to.equal(true);
        map.closeAll();
        await done;
      } finally {
        map.closeAll();
      }
    });

    it('close() sends what push() and a producer queued, then ends the stream', async () => {
      const map = new SocketMap();
      const [peer, socket] = duplexPair({ highWaterMark: 16 * 1024 });
      const chat = new Sender({ socket, map });
      const body = Buffer.alloc(512 * 1024, 'p');
      chat.push('head\n');
      chat.pushWithProducer(new SimpleProducer(body, 4096));
      chat.push('tail\n');
      chat.closeWhenDone();
      chat.push('never sent\n');
      const received = collect(peer);
      chat.close();
      const got = await received;
      expect(got.length).to.equal(5 + body.length + 5);
      expect(got.subarray(-5).toString()).to.equal('tail\n');
      expect(chat.outgoingQueueLength).to.equal(0);
    });

    it('a push() to a peer that left, outside loop(): handleClose() waits for the next round', async () => {
      const map = new SocketMap();
      const looping: boolean[] = [];
      class Watched extends Sender {
        override handleClose(): void {
          looping.push(this.map.looping);
          this.close();
        }
      }
      const [peer, socket] = duplexPair();
      const chat = new Watched({ socket, map });
      peer.destroy();
      await new Promise((resolve) => socket.once('close', resolve));
      chat.push('late\n');
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(looping).to.deep.equal([]);
      expect(chat.closed).to.equal(false);
      await loop({ map, timeout: 100 });
      expect(looping).to.deep.equal([true]);
      expect(chat.closed).to.equal(true);
    });

    for (const maxOutgoing of [256 * 1024, undefined] as const) {
      it(`a pipelining client that never reads: the queue stays under maxOutgoing (${maxOutgoing ?? 'default 1 MiB'}), TCP pushes back`, async () => {
        const map = new SocketMap();
        try {
          const bound = maxOutgoing ?? 1024 * 1024;
          let chat!: PlainEcho;
          const { port } = await listenOn(
            map,
            (socket, m) => (chat = new PlainEcho({ socket, map: m, maxOutgoing })),
          );
          const done = loop({ map, timeout: 50 });
          const client = await connectClient({ host: '127.0.0.1', port });
          client.pause();
          const line = Buffer.from('0123456789abcde\n');
          const request = Buffer.alloc(line.length * 65536);
          for (let i = 0; i < 65536; i++) line.copy(request, i * line.length);
          for (let i = 0; i < 24; i++) client.write(request); // 24 MiB of requests
          await eventually(() => chat);
          // Wait until the server stopped reading: bytesRead unchanged for 100 turns.
          const transport = chat.socket as net.Socket;
          let last = -1;
          let streak = 0;
          let peak = 0;
          while (streak < 100) {
            await new Promise((resolve) => setImmediate(resolve));
            peak = Math.max(peak, chat[kQueued]());
            streak = transport.bytesRead === last ? streak + 1 : 0;
            last = transport.bytesRead;
          }
          expect(peak).to.be.above(bound / 2);
          expect(peak).to.be.at.most(bound + 2 * chat.acInBufferSize);
          expect(transport.bytesRead).to.be.below(bound * 4 + 8 * 1024 * 1024);
          expect(client.writableLength).to.be.above(8 * 1024 * 1024);
          client.destroy();
          map.closeAll();
          await done;
        } finally {
          map.closeAll();
        }
      });
    }

    it('maxOutgoing: Infinity restores asynchat: the queue grows with what the peer sends', async () => {
      const map = new SocketMap();
      const [peer, socket] = duplexPair({ highWaterMark: 16 * 1024 });
      const chat = new PlainEcho({ socket, map, maxOutgoing: Infinity });
      const done = loop({ map, timeout: 50 });
      const line = Buffer.alloc(1024, 'i');
      line[1023] = 0x0a;
      for (let i = 0; i < 3 * 1024; i++) peer.write(line);
      await eventually(() => (chat[kQueued]() > 2 * 1024 * 1024 ? true : undefined));
      peer.destroy();
      await done;
    });

    it('push() then send() keeps call order; send() takes nothing while the queue is not empty', async () => {
      const map = new SocketMap();
      const [peer, socket] = duplexPair({ highWaterMark: 1024 });
      const chat = new Sender({ socket, map });
      const received = collect(peer);
      chat.push('first,');
      expect(chat.send('second,')).to.equal(7);
      chat.push(Buffer.alloc(4096, 'q'));
      // The transport is full with the queue's head: send() must not jump ahead of it.
      expect(chat.send('never')).to.equal(0);
      expect(() => chat.send(42 as unknown as string)).to.throw(TypeError);
      chat.push(',last');
      chat.closeWhenDone();
      await loop({ map, timeout: 100 });
      const got = (await received).toString();
      expect(got).to.equal(`first,second,${'q'.repeat(4096)},last`);
    });
  });
});
