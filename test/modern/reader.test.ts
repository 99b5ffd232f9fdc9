import { execFile } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import fc from 'fast-check';
import { IncompleteReadError, LimitOverrunError, StreamReader } from '../../src/modern/index.js';
import { byteQueueStats } from '../../src/modern/_byte-queue.js';
import { readNow } from '../../src/modern/reader.js';
import { readerStats } from '../../src/modern/_stats.js';
import { wireSocket } from '../../src/modern/_wire.js';
import { tick, rejection } from '../helpers/async.js';
import { chunked, framedBytes, microtasks, until } from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { abortListeners } from '../helpers/leaks.js';

const b = (text: string): Buffer => Buffer.from(text);

/** The work separator searches did while `work` ran: bytes compared plus segments visited. */
async function examined(work: () => Promise<void>): Promise<number> {
  const bytes = readerStats.bytesScanned;
  const segments = byteQueueStats.segmentsVisited;
  await work();
  return readerStats.bytesScanned - bytes + (byteQueueStats.segmentsVisited - segments);
}

/** `bytes` bytes of 64-byte lines ending in `separator`, cut into chunks of `size` bytes. */
function lines(bytes: number, separator: string, size: number): Buffer[] {
  const line = b(`${'x'.repeat(64 - separator.length)}${separator}`);
  const data = Buffer.concat(Array.from({ length: bytes / 64 }, () => line));
  const chunks: Buffer[] = [];
  // Each chunk its own allocation, as a socket delivers.
  for (let i = 0; i < data.length; i += size) chunks.push(Buffer.from(data.subarray(i, i + size)));
  return chunks;
}

/** Every way to split `text` into at most 3 non-empty chunks. */
function* splits(text: string): Generator<string[]> {
  yield [text];
  for (let i = 1; i < text.length; i++) {
    yield [text.slice(0, i), text.slice(i)];
    for (let j = i + 1; j < text.length; j++) {
      yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
    }
  }
}

describe('StreamReader', () => {
  describe('constructor', () => {
    it('defaults the limit to 65536', () => {
      expect(new StreamReader().limit).to.equal(65536);
    });

    it('rejects a limit that is not a positive integer', () => {
      expect(() => new StreamReader({ limit: 0 })).to.throw(
        RangeError,
        'Expected `limit` to be a positive integer, got `0` (number)',
      );
      expect(() => new StreamReader({ limit: '5' as unknown as number })).to.throw(TypeError);
    });
  });

  describe('#read()', () => {
    it('returns an empty Buffer for read(0) even with data buffered', async () => {
      const reader = new StreamReader();
      reader.feedData(b('abc'));
      expect((await reader.read(0)).length).to.equal(0);
      expect(reader.bufferedLength).to.equal(3);
    });

    it('returns up to n bytes as soon as any are available', async () => {
      const reader = new StreamReader();
      const pending = reader.read(10);
      reader.feedData(b('abc'));
      expect((await pending).toString()).to.equal('abc');
      reader.feedData(b('defghijklmnop'));
      expect((await reader.read(5)).toString()).to.equal('defgh');
      expect(reader.bufferedLength).to.equal(8);
    });

    it('read(-1) returns everything until end-of-stream', async () => {
      const reader = new StreamReader();
      const pending = reader.read();
      reader.feedData(b('line1\n'));
      await tick();
      reader.feedData(b('line2\n'));
      await tick();
      reader.feedEof();
      expect((await pending).toString()).to.equal('line1\nline2\n');
      expect(reader.atEof()).to.equal(true);
    });

    it('returns an empty Buffer at end-of-stream', async () => {
      const reader = new StreamReader();
      reader.feedData(b('x'));
      reader.feedEof();
      expect((await reader.read(5)).toString()).to.equal('x');
      expect((await reader.read(5)).length).to.equal(0);
      expect((await reader.read()).length).to.equal(0);
    });

    it('rejects a non-integer n with a RangeError', async () => {
      const reader = new StreamReader();
      expect(await rejection(reader.read(1.5))).to.be.instanceOf(RangeError);
    });
  });

  describe('#readExactly()', () => {
    it('waits until exactly n bytes arrived over several chunks', async () => {
      const reader = new StreamReader();
      const pending = reader.readExactly(7);
      for (const chunk of ['ab', 'c', 'defgh']) {
        reader.feedData(b(chunk));
        await tick();
      }
      expect((await pending).toString()).to.equal('abcdefg');
      expect((await reader.read(10)).toString()).to.equal('h');
    });

    it('rejects with IncompleteReadError carrying the partial bytes at end-of-stream', async () => {
      const reader = new StreamReader();
      const pending = reader.readExactly(10);
      reader.feedData(b('12345'));
      await tick();
      reader.feedEof();
      const error = await rejection(pending);
      expect(error).to.be.instanceOf(IncompleteReadError);
      expect((error as IncompleteReadError).partial.toString()).to.equal('12345');
      expect((error as IncompleteReadError).expected).to.equal(10);
      expect(reader.atEof()).to.equal(true);
    });

    it('returns an empty Buffer for readExactly(0) and rejects a negative n', async () => {
      const reader = new StreamReader();
      expect((await reader.readExactly(0)).length).to.equal(0);
      expect(await rejection(reader.readExactly(-1))).to.be.instanceOf(RangeError);
    });
  });

  describe('#readUntil()', () => {
    for (const separator of ['\n', '\r\n', 'qqq']) {
      const text = `hello world${separator}I'm not dead yet!${separator}tail`;
      it(`finds ${JSON.stringify(separator)} for every split of the input into chunks`, async () => {
        for (const chunks of splits(text)) {
          const reader = new StreamReader();
          const first = reader.readUntil(separator);
          for (const chunk of chunks) {
            reader.feedData(b(chunk));
            await Promise.resolve();
          }
          reader.feedEof();
          expect((await first).toString()).to.equal(`hello world${separator}`);
          expect((await reader.readUntil(separator)).toString()).to.equal(
            `I'm not dead yet!${separator}`,
          );
          const error = await rejection(reader.readUntil(separator));
          expect(error).to.be.instanceOf(IncompleteReadError);
          expect((error as IncompleteReadError).partial.toString()).to.equal('tail');
        }
      });
    }

    it('finds a multi-byte separator split across chunks (asyncio test_readuntil_multi_chunks_1)', async () => {
      const reader = new StreamReader();
      reader.feedData(b('QWEaa'));
      reader.feedData(b('XYaa'));
      reader.feedData(b('a'));
      expect((await reader.readUntil('aaa')).toString()).to.equal('QWEaaXYaaa');
      expect(reader.bufferedLength).to.equal(0);
    });

    it('accepts a Uint8Array separator', async () => {
      const reader = new StreamReader();
      reader.feedData(new Uint8Array([1, 2, 0, 0, 3]));
      const chunk = await reader.readUntil(new Uint8Array([0, 0]));
      expect([...chunk]).to.deep.equal([1, 2, 0, 0]);
    });

    it('rejects with IncompleteReadError at end-of-stream and consumes the partial data', async () => {
      const reader = new StreamReader();
      const pending = reader.readUntil('\r\n');
      reader.feedData(b('no separator\r'));
      await tick();
      reader.feedEof();
      const error = await rejection(pending);
      expect(error).to.be.instanceOf(IncompleteReadError);
      expect((error as IncompleteReadError).partial.toString()).to.equal('no separator\r');
      expect((error as IncompleteReadError).expected).to.equal(null);
      expect(reader.atEof()).to.equal(true);
    });

    it('rejects with LimitOverrunError and keeps the data when no separator is within the limit', async () => {
      const reader = new StreamReader({ limit: 8 });
      reader.feedData(b('0123456789abcdef\nrest\n'));
      const error = await rejection(reader.readUntil('!'));
      expect(error).to.be.instanceOf(LimitOverrunError);
      expect(reader.bufferedLength).to.equal(22);
      // The data is intact: a successful read of what remains.
      expect((await reader.read(16)).toString()).to.equal('0123456789abcdef');
      expect((await reader.readUntil('\n')).toString()).to.equal('\n');
      expect((await reader.readLine()).toString()).to.equal('rest\n');
    });

    it('rejects with LimitOverrunError when the separator is found past the limit', async () => {
      const reader = new StreamReader({ limit: 4 });
      reader.feedData(b('123456\n'));
      const error = await rejection(reader.readUntil('\n'));
      expect(error).to.be.instanceOf(LimitOverrunError);
      // Through the separator: readExactly(consumed) skips the whole message.
      expect((error as LimitOverrunError).consumed).to.equal(7);
      expect(reader.bufferedLength).to.equal(7);
      expect((await reader.readExactly(7)).toString()).to.equal('123456\n');
    });

    it('rejects an empty separator with a RangeError', async () => {
      expect(await rejection(new StreamReader().readUntil(''))).to.be.instanceOf(RangeError);
    });

    it('rejects a separator that is neither a string nor bytes with a TypeError', async () => {
      const error = await rejection(new StreamReader().readUntil(10 as unknown as string));
      expect(error).to.be.instanceOf(TypeError);
      expect((error as Error).message).to.equal(
        'Expected `separator` to be a string or a Uint8Array, got `10` (number)',
      );
    });

    it('scans linearly: 10 000 one-byte chunks before the separator', async () => {
      const reader = new StreamReader({ limit: 1 << 20 });
      for (const separator of ['\n', 'END']) {
        const before = readerStats.bytesScanned;
        const pending = reader.readUntil(separator);
        for (let i = 0; i < 10_000; i++) {
          reader.feedData(b('x'));
          if (i % 1000 === 0 || i > 9990) await tick();
          else await Promise.resolve();
        }
        reader.feedData(b(separator));
        const line = await pending;
        expect(line.length).to.equal(10_000 + separator.length);
        const scanned = readerStats.bytesScanned - before;
        // A rescan from the start on every chunk would examine ~50 000 000 bytes.
        expect(scanned).to.be.below(10_000 * 10);
        expect(scanned).to.be.at.least(10_000);
      }
    });
  });

  describe('#readLine()', () => {
    it('returns lines, then what is left at end-of-stream, then empty', async () => {
      const reader = new StreamReader();
      reader.feedData(b('one\ntw'));
      reader.feedData(b('o\nthree'));
      reader.feedEof();
      expect((await reader.readLine()).toString()).to.equal('one\n');
      expect((await reader.readLine()).toString()).to.equal('two\n');
      expect((await reader.readLine()).toString()).to.equal('three');
      expect((await reader.readLine()).length).to.equal(0);
    });

    it('rejects an over-long line with LimitOverrunError and keeps the data (documented deviation)', async () => {
      const reader = new StreamReader({ limit: 10 });
      reader.feedData(b('x'.repeat(30)));
      reader.feedData(b('\nshort\n'));
      const error = await rejection(reader.readLine());
      expect(error).to.be.instanceOf(LimitOverrunError);
      expect(reader.bufferedLength).to.equal(37);
      // The README's recipe: skip the long line, separator included, and go on.
      await reader.readExactly((error as LimitOverrunError).consumed);
      expect((await reader.readLine()).toString()).to.equal('short\n');
    });
  });

  describe('#readLine() while waiting for data', () => {
    it('completes a line fed in pieces, scanning each byte once', async () => {
      const reader = new StreamReader({ limit: 1 << 20 });
      const before = readerStats.bytesScanned;
      const pending = reader.readLine();
      for (let i = 0; i < 10_000; i++) reader.feedData(b('x'));
      reader.feedData(b('\nnext'));
      const line = await pending;
      expect(line.length).to.equal(10_001);
      expect(readerStats.bytesScanned - before).to.equal(10_001);
      expect(reader.bufferedLength).to.equal(4);
    });

    it('rejects with LimitOverrunError once the line outgrows the limit, keeping the data', async () => {
      const reader = new StreamReader({ limit: 10 });
      const pending = reader.readLine();
      reader.feedData(b('x'.repeat(8)));
      reader.feedData(b('y'.repeat(8)));
      const error = await rejection(pending);
      expect(error).to.be.instanceOf(LimitOverrunError);
      expect((error as LimitOverrunError).consumed).to.equal(16);
      expect(reader.bufferedLength).to.equal(16);
      reader.feedData(b('\n'));
      expect((await reader.read(100)).toString()).to.equal(`${'x'.repeat(8)}${'y'.repeat(8)}\n`);
    });

    it('takes a chunk that is exactly one line as it was fed, scanning it once', async () => {
      const reader = new StreamReader();
      const chunk = b('PING 1\n');
      const before = readerStats.bytesScanned;
      const pending = reader.readLine();
      reader.feedData(chunk);
      expect(await pending).to.equal(chunk);
      expect(readerStats.bytesScanned - before).to.equal(chunk.length);
      expect(reader.bufferedLength).to.equal(0);
    });

    it('keeps what follows the first line of a chunk that ends with a newline', async () => {
      const reader = new StreamReader();
      const pending = reader.readLine();
      reader.feedData(b('one\ntwo\n'));
      expect((await pending).toString()).to.equal('one\n');
      expect(reader.bufferedLength).to.equal(4);
      expect((await reader.readLine()).toString()).to.equal('two\n');
    });

    it('rejects a one-line chunk longer than the limit with LimitOverrunError, keeping it', async () => {
      const reader = new StreamReader({ limit: 4 });
      const pending = reader.readLine();
      reader.feedData(b('123456\n'));
      expect(await rejection(pending)).to.be.instanceOf(LimitOverrunError);
      expect(reader.bufferedLength).to.equal(7);
    });

    it('returns what is left at end-of-stream, then empty', async () => {
      const reader = new StreamReader();
      const pending = reader.readLine();
      reader.feedData(b('no newline'));
      reader.feedEof();
      expect((await pending).toString()).to.equal('no newline');
      expect((await reader.readLine()).length).to.equal(0);
    });

    it('resumes a paused transport when it has to wait', async () => {
      const calls: string[] = [];
      const reader = new StreamReader({
        limit: 4,
        pause: () => calls.push('pause'),
        resume: () => calls.push('resume'),
      });
      reader.feedData(b('1234567890'));
      expect(calls).to.deep.equal(['pause']);
      const error = await rejection(reader.readLine());
      expect(error).to.be.instanceOf(LimitOverrunError);
      await reader.readExactly(8);
      const pending = reader.readLine();
      reader.feedData(b('ab\n'));
      expect((await pending).toString()).to.equal('90ab\n');
      expect(calls).to.deep.equal(['pause', 'resume']);
      expect(reader.paused).to.equal(false);
    });
  });

  describe('[Symbol.asyncIterator]()', () => {
    it('yields lines until end-of-stream', async () => {
      const reader = new StreamReader();
      reader.feedData(b('a\nb\nc'));
      reader.feedEof();
      const lines: string[] = [];
      for await (const line of reader) lines.push(line.toString());
      expect(lines).to.deep.equal(['a\n', 'b\n', 'c']);
    });

    it('leaves the rest buffered when the loop breaks', async () => {
      const reader = new StreamReader();
      reader.feedData(b('a\nb\n'));
      for await (const line of reader) {
        expect(line.toString()).to.equal('a\n');
        break;
      }
      expect((await reader.readLine()).toString()).to.equal('b\n');
    });
  });

  describe('#chunks()', () => {
    it('yields a chunk fed while it waits as it was fed, and small buffered chunks joined', async () => {
      const reader = new StreamReader();
      const large = Buffer.alloc(1000, 0x61);
      reader.feedData(large);
      reader.feedData(b('ab'));
      reader.feedData(b('cde'));
      const seen: Buffer[] = [];
      const done = (async () => {
        for await (const chunk of reader.chunks()) seen.push(chunk);
      })();
      await tick();
      const fresh = b('f');
      reader.feedData(fresh);
      await tick();
      reader.feedEof();
      await done;
      expect(seen.map((chunk) => chunk.length)).to.deep.equal([1000, 5, 1]);
      // Without copying what was kept by reference.
      expect(seen[0]).to.equal(large);
      expect(seen[1]!.toString()).to.equal('abcde');
      expect(seen[2]).to.equal(fresh);
    });
  });

  describe('#chunks() as an async generator', () => {
    it('return() ends the iteration and leaves the rest buffered', async () => {
      const reader = new StreamReader();
      reader.feedData(b('one'));
      const chunks = reader.chunks();
      expect((await chunks.next()).value?.toString()).to.equal('one');
      reader.feedData(b('two'));
      expect(await chunks.return()).to.deep.equal({ done: true, value: undefined });
      expect(await chunks.next()).to.deep.equal({ done: true, value: undefined });
      expect((await reader.read(10)).toString()).to.equal('two');
    });

    it('runs next() calls made while one is pending in turn', async () => {
      const reader = new StreamReader();
      const chunks = reader.chunks();
      const first = chunks.next();
      const second = chunks.next();
      const third = chunks.next();
      reader.feedData(b('a'));
      reader.feedData(b('b'));
      reader.feedEof();
      const results = await Promise.all([first, second, third]);
      expect(results.map((r) => (r.done ? 'done' : r.value.toString()))).to.deep.equal([
        'a',
        'b',
        'done',
      ]);
    });

    it('runs queued next() calls in turn when the data comes one turn at a time', async () => {
      const reader = new StreamReader();
      const chunks = reader.chunks();
      const calls = [chunks.next(), chunks.next(), chunks.next()];
      for (const item of ['a', 'b']) {
        await tick();
        reader.feedData(b(item));
      }
      await tick();
      reader.feedEof();
      // Before, the third next() started while the second waited and failed with "another read
      // is already waiting for data".
      const results = await Promise.all(calls);
      expect(results.map((r) => (r.done ? 'done' : r.value.toString()))).to.deep.equal([
        'a',
        'b',
        'done',
      ]);
    });

    it('rejects a waiting next() with the stored exception, then is done', async () => {
      const reader = new StreamReader();
      const chunks = reader.chunks();
      const pending = chunks.next();
      const boom = new Error('boom');
      reader.setException(boom);
      expect(await rejection(pending)).to.equal(boom);
      expect(await chunks.next()).to.deep.equal({ done: true, value: undefined });
    });

    it('an aborted wait rejects with signal.reason, removes its listener and loses no data', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      const chunks = reader.chunks({ signal: controller.signal });
      const pending = chunks.next();
      expect(getEventListeners(controller.signal, 'abort').length).to.equal(1);
      const reason = new Error('stop');
      controller.abort(reason);
      expect(await rejection(pending)).to.equal(reason);
      expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
      reader.feedData(b('kept'));
      expect((await reader.read(10)).toString()).to.equal('kept');
    });

    it('throw() rejects with the error and ends the iteration', async () => {
      const reader = new StreamReader();
      reader.feedData(b('x'));
      const chunks = reader.chunks();
      const error = new Error('thrown');
      expect(await rejection(chunks.throw(error))).to.equal(error);
      expect(await chunks.next()).to.deep.equal({ done: true, value: undefined });
      expect(reader.bufferedLength).to.equal(1);
    });
  });

  describe('cancellation', () => {
    it('an aborted readLine rejects with signal.reason and leaves a line split across chunks buffered', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      const pending = reader.readLine({ signal: controller.signal });
      for (const chunk of ['par', 'tial ', 'li']) {
        reader.feedData(b(chunk));
        await tick();
      }
      const reason = new Error('stop');
      controller.abort(reason);
      expect(await rejection(pending)).to.equal(reason);
      expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
      expect(reader.bufferedLength).to.equal(10);
      reader.feedData(b('ne\n'));
      expect((await reader.readLine()).toString()).to.equal('partial line\n');
    });

    it('an aborted readExactly leaves every byte for the next read', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      const pending = reader.readExactly(6, { signal: controller.signal });
      reader.feedData(b('abc'));
      await tick();
      controller.abort();
      expect(await rejection(pending)).to.equal(controller.signal.reason);
      reader.feedData(b('def'));
      expect((await reader.readExactly(6)).toString()).to.equal('abcdef');
    });

    it('an already-aborted signal rejects at once, even with data buffered', async () => {
      const reader = new StreamReader();
      reader.feedData(b('line\n'));
      const reason = new Error('already');
      const signal = AbortSignal.abort(reason);
      expect(await rejection(reader.readLine({ signal }))).to.equal(reason);
      expect(await rejection(reader.read(3, { signal }))).to.equal(reason);
      expect(reader.bufferedLength).to.equal(5);
      expect(getEventListeners(signal, 'abort').length).to.equal(0);
    });

    it('removes the abort listener when the read succeeds or fails', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      const ok = reader.readLine({ signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort').length).to.equal(1);
      reader.feedData(b('x\n'));
      await ok;
      expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
      const failing = reader.readLine({ signal: controller.signal });
      reader.setException(new Error('boom'));
      await rejection(failing);
      expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
    });
    it('an aborted read(-1) leaves everything it waited on buffered', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      const pending = reader.read(-1, { signal: controller.signal });
      reader.feedData(b('abc'));
      await tick();
      reader.feedData(b('def'));
      await tick();
      controller.abort();
      expect(await rejection(pending)).to.equal(controller.signal.reason);
      reader.feedEof();
      expect((await reader.read()).toString()).to.equal('abcdef');
    });
  });

  describe('misuse and errors', () => {
    it('rejects a second read at once while another waits for data', async () => {
      const reader = new StreamReader();
      const first = reader.readLine();
      const error = await rejection(reader.read(1));
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.equal(
        'Cannot call read(): another read is already waiting for data',
      );
      reader.feedData(b('ok\n'));
      expect((await first).toString()).to.equal('ok\n');
    });

    it('setException rejects the pending read and every later read, even with data buffered', async () => {
      const reader = new StreamReader();
      const pending = reader.readLine();
      const boom = new Error('boom');
      reader.setException(boom);
      expect(await rejection(pending)).to.equal(boom);
      reader.feedData(b('data\n'));
      expect(await rejection(reader.readLine())).to.equal(boom);
      expect(await rejection(reader.read(1))).to.equal(boom);
      expect(await rejection(reader.readExactly(1))).to.equal(boom);
      expect(reader.exception()).to.equal(boom);
    });

    it('feedData ignores empty data: a waiting read goes on waiting', async () => {
      const reader = new StreamReader();
      const pending = reader.read(1);
      reader.feedData(Buffer.alloc(0));
      reader.feedData(new Uint8Array(0));
      await tick();
      expect(reader.bufferedLength).to.equal(0);
      reader.feedData(b('z'));
      expect((await pending).toString()).to.equal('z');
    });

    it('feedData takes any Uint8Array, not only Buffers', async () => {
      const reader = new StreamReader();
      const bytes = new Uint8Array([0x61, 0x62, 0x0a, 0x63]);
      reader.feedData(bytes.subarray(1));
      expect((await reader.readLine()).toString()).to.equal('b\n');
      expect((await reader.read(5)).toString()).to.equal('c');
    });

    it('feedData rejects non-bytes and data after end-of-stream', () => {
      const reader = new StreamReader();
      expect(() => reader.feedData('text' as unknown as Uint8Array)).to.throw(TypeError);
      reader.feedEof();
      expect(() => reader.feedData(b('late'))).to.throw(
        Error,
        'Cannot feed data: end-of-stream was already fed',
      );
    });
  });

  describe('flow control', () => {
    it('pauses above 2 × limit and resumes at or below limit', async () => {
      const calls: string[] = [];
      const reader = new StreamReader({
        limit: 10,
        pause: () => calls.push('pause'),
        resume: () => calls.push('resume'),
      });
      reader.feedData(b('x'.repeat(20)));
      expect(calls).to.deep.equal([]);
      reader.feedData(b('y'));
      expect(calls).to.deep.equal(['pause']);
      expect(reader.paused).to.equal(true);
      reader.feedData(b('z'.repeat(5)));
      expect(calls).to.deep.equal(['pause']);
      await reader.read(15); // 11 left: still above the limit
      expect(calls).to.deep.equal(['pause']);
      await reader.read(1); // 10 left
      expect(calls).to.deep.equal(['pause', 'resume']);
      expect(reader.paused).to.equal(false);
    });

    it('resumes when a read must wait for more than is buffered', async () => {
      const calls: string[] = [];
      const reader = new StreamReader({ limit: 4 });
      reader.setTransport({ pause: () => calls.push('pause'), resume: () => calls.push('resume') });
      reader.feedData(b('123456789'));
      expect(calls).to.deep.equal(['pause']);
      const pending = reader.readExactly(12);
      expect(calls).to.deep.equal(['pause', 'resume']);
      reader.feedData(b('abc'));
      expect((await pending).toString()).to.equal('123456789abc');
    });
  });
  describe('one pending read', () => {
    const ops: Record<string, [(reader: StreamReader) => Promise<Buffer>, string, string]> = {
      'read(1)': [(reader) => reader.read(1), 'A', 'B'],
      'readExactly(2)': [(reader) => reader.readExactly(2), 'A1', 'B2'],
      'readUntil("!")': [(reader) => reader.readUntil('!'), 'A!', 'B!'],
      'readLine()': [(reader) => reader.readLine(), 'A\n', 'B\n'],
      'read(-1)': [(reader) => reader.read(), 'A', ''],
      'chunks()': [
        async (reader) => {
          const { value } = await reader.chunks().next();
          return value ?? Buffer.alloc(0);
        },
        'A',
        'B',
      ],
    };
    for (const [name, [op, first, second]] of Object.entries(ops)) {
      it(`${name}: a read started after feedData() completed the waiting one never takes its bytes`, async () => {
        const reader = new StreamReader();
        const one = op(reader);
        reader.feedData(b(first));
        if (second === '') reader.feedEof();
        // Started before read #1 has run again: its bytes are already taken.
        const two = op(reader);
        if (second !== '') reader.feedData(b(second));
        expect((await one).toString()).to.equal(first);
        expect((await two).toString()).to.equal(second);
        expect(reader.bufferedLength).to.equal(0);
      });
    }

    it('a read started while the first one still waits rejects and takes nothing', async () => {
      const reader = new StreamReader();
      const one = reader.readExactly(4);
      reader.feedData(b('AB'));
      const error = await rejection(reader.read(1));
      expect((error as Error).message).to.equal(
        'Cannot call read(): another read is already waiting for data',
      );
      reader.feedData(b('CD'));
      expect((await one).toString()).to.equal('ABCD');
    });
  });

  describe('cost follows bytes, whatever the chunking', () => {
    // The case: 131 072 bytes of lines in one-byte chunks read ~860x slower than in 128
    // chunks, because every fresh search walked back over all buffered chunks.
    for (const [name, separator] of [
      ['readLine()', '\n'],
      ['readUntil("\\r\\n")', '\r\n'],
    ] as const) {
      it(`${name} over 131 072 buffered one-byte chunks examines each byte about once`, async () => {
        for (const size of [1, 1024]) {
          const reader = new StreamReader({ limit: 1 << 20 });
          let count = 0;
          const work = await examined(async () => {
            for (const chunk of lines(131_072, separator, size)) reader.feedData(chunk);
            for (;;) {
              const line =
                separator === '\n' ? await reader.readLine() : await reader.readUntil(separator);
              expect(line.length).to.equal(64);
              count++;
              if (reader.bufferedLength === 0) break;
            }
          });
          expect(count).to.equal(2048);
          // Walking every buffered chunk per line would be ~130 000 000 segment visits.
          expect(work, `chunks of ${size}`).to.be.at.most(131_072 * 2);
        }
      });
    }

    it('separator searches examine at most a few times the bytes fed, for any chunking (property)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('\n', '\r\n', 'aba'),
          fc.integer({ min: 0, max: 3 }),
          fc.nat(),
          async (separator, ticks, seed) => {
            const sep = b(separator);
            const { data, chunks } = fc.sample(chunked(framedBytes(sep, { maxLength: 2000 })), {
              numRuns: 1,
              seed,
            })[0]!;
            const reader = new StreamReader({ limit: 1 << 20 });
            const out: Buffer[] = [];
            const work = await examined(async () => {
              const consumer = (async () => {
                for (;;) {
                  try {
                    const message =
                      separator === '\n'
                        ? await reader.readLine()
                        : await reader.readUntil(separator);
                    if (message.length === 0) return;
                    out.push(message);
                  } catch (error) {
                    out.push((error as IncompleteReadError).partial);
                    return;
                  }
                }
              })();
              for (const chunk of chunks) {
                reader.feedData(Buffer.from(chunk));
                await microtasks(ticks);
              }
              reader.feedEof();
              await consumer;
            });
            expect(Buffer.concat(out).equals(data)).to.equal(true);
            // Each byte once, the separator's length before each chunk again, a segment visit
            // or two per search, and a boundary check of the separator per segment.
            const bound = (sep.length + 2) * (data.length + chunks.length) + 2 * out.length + 2;
            expect(work).to.be.at.most(bound);
          },
        ),
        { numRuns: 200 },
      );
    });

    /** Sends a 1 000-byte line one byte at a time, each once the last one arrived. */
    async function trickleLine(client: Duplex, server: Duplex): Promise<number> {
      const { reader } = wireSocket(server, 1 << 20);
      const bytes = 1_000;
      const work = await examined(async () => {
        const pending = reader.readLine();
        for (let i = 0; i < bytes - 1; i++) {
          client.write('x');
          // The next byte leaves only once this one arrived: one segment, one chunk each.
          await until(() => reader.bufferedLength > i);
        }
        client.write('\n');
        expect((await pending).length).to.equal(bytes);
      });
      return work / bytes;
    }

    it('over loopback TCP, a line sent one byte per segment is scanned about once per byte', async () => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as net.AddressInfo;
      const client = net.connect({ port, host: '127.0.0.1', noDelay: true });
      const [socket] = (await once(server, 'connection')) as [net.Socket];
      try {
        expect(await trickleLine(client, socket)).to.be.at.most(3);
      } finally {
        client.destroy();
        socket.destroy();
        server.close();
        await once(server, 'close');
      }
    });

    it('over the in-memory duplex, a line sent one byte per write is scanned about once per byte', async () => {
      const [client, server] = duplexPair();
      try {
        expect(await trickleLine(client, server)).to.be.at.most(3);
      } finally {
        client.destroy();
        server.destroy();
      }
    });

    it('buffered bytes cost memory in proportion to bytes, not chunks (600 000 one-byte chunks)', async () => {
      // Measured in a fresh process with --expose-gc: heap (Buffer objects) plus external memory
      // (ArrayBuffer backing stores) retained by a reader holding 600 000 one-byte chunks, each
      // its own ArrayBuffer as a socket delivers them. Keeping every chunk costs ~196 bytes per
      // byte (a Buffer and an ArrayBuffer object each); coalescing costs ~1.5 (the bytes, plus
      // tails up to half empty), so the bound of 8 fails by 25x before and passes by 5x after.
      const reader = fileURLToPath(new URL('../../src/modern/reader.ts', import.meta.url));
      const script = `
        const { StreamReader } = await import(process.argv[1]);
        const N = 600000;
        const reader = new StreamReader({ limit: 1 << 30 });
        globalThis.gc(); globalThis.gc();
        const before = process.memoryUsage();
        for (let i = 0; i < N; i++) reader.feedData(Buffer.from(new ArrayBuffer(1)).fill(120));
        globalThis.gc(); globalThis.gc();
        const after = process.memoryUsage();
        const grown = after.heapUsed - before.heapUsed + (after.external - before.external);
        console.log(JSON.stringify({ perByte: grown / N, buffered: reader.bufferedLength }));
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
          reader,
        ],
        { timeout: 15_000 },
      );
      const { perByte, buffered } = JSON.parse(stdout) as { perByte: number; buffered: number };
      expect(buffered).to.equal(600_000);
      expect(perByte).to.be.below(8);
    });
  });

  describe('signals', () => {
    it('a read that does not wait never subscribes to its signal', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      const signal = controller.signal;
      let subscriptions = 0;
      const add = signal.addEventListener.bind(signal);
      signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => {
        subscriptions++;
        add(...args);
      };
      reader.feedData(b('a\nb\nc\n12345'));
      for (let i = 0; i < 3; i++) await reader.readLine({ signal });
      await reader.readExactly(2, { signal });
      await reader.read(10, { signal });
      expect(subscriptions).to.equal(0);
      const waiting = reader.readLine({ signal });
      expect(subscriptions).to.equal(1);
      reader.feedData(b('d\n'));
      expect((await waiting).toString()).to.equal('d\n');
      expect(getEventListeners(signal, 'abort').length).to.equal(0);
    });

    it('an abort right after data completed a waiting read changes nothing: it has its bytes', async () => {
      for (const read of [
        (reader: StreamReader, signal: AbortSignal) => reader.readLine({ signal }),
        (reader: StreamReader, signal: AbortSignal) => reader.readExactly(2, { signal }),
        (reader: StreamReader, signal: AbortSignal) => reader.readUntil('\n', { signal }),
      ]) {
        const reader = new StreamReader();
        const controller = new AbortController();
        const pending = read(reader, controller.signal);
        reader.feedData(b('x\nrest'));
        controller.abort(new Error('too late'));
        expect((await pending).toString()).to.equal('x\n');
        expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
        expect((await reader.read(10)).toString()).to.equal('rest');
      }
    });

    it('an abort whose earlier listener feeds the missing bytes completes the read instead', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      // Registered before the read's own listener: it runs first and completes the read.
      controller.signal.addEventListener('abort', () => reader.feedData(b('ne\nnext')));
      const pending = reader.readLine({ signal: controller.signal });
      reader.feedData(b('li'));
      controller.abort();
      expect((await pending).toString()).to.equal('line\n');
      expect(abortListeners(controller.signal)).to.equal(1);
      expect((await reader.read(10)).toString()).to.equal('next');
    });

    it('an aborted wait keeps the bytes its search already examined, and the next read finds them', async () => {
      const reader = new StreamReader();
      const controller = new AbortController();
      const pending = reader.readUntil('\r\n', { signal: controller.signal });
      reader.feedData(b('abc\r'));
      controller.abort();
      expect(await rejection(pending)).to.equal(controller.signal.reason);
      const next = reader.readUntil('\r\n');
      reader.feedData(b('\ndef'));
      expect((await next).toString()).to.equal('abc\r\n');
      expect(reader.bufferedLength).to.equal(3);
    });
  });

  describe('flow control while a read waits', () => {
    it('a waiting read(-1) keeps the transport running past 2 × limit', async () => {
      const calls: string[] = [];
      const reader = new StreamReader({
        limit: 4,
        pause: () => calls.push('pause'),
        resume: () => calls.push('resume'),
      });
      const all = reader.read();
      for (let i = 0; i < 10; i++) reader.feedData(b('xy'));
      expect(reader.paused).to.equal(false);
      reader.feedEof();
      expect((await all).length).to.equal(20);
      // No pause()/resume() churn on the transport either.
      expect(calls).to.deep.equal([]);
    });
  });

  describe('readNow() (adapters: read(n) without a promise)', () => {
    it('takes up to n buffered bytes, is undefined when read(n) would wait, and gives the end and the stored error', () => {
      const reader = new StreamReader();
      expect(readNow(reader, 4)).to.equal(undefined);
      reader.feedData(b('abcdef'));
      expect(readNow(reader, 4)?.toString()).to.equal('abcd');
      expect(readNow(reader, 4)?.toString()).to.equal('ef');
      expect(readNow(reader, 4)).to.equal(undefined);
      // It leaves no read pending: a read() may wait next.
      const pending = reader.read(1);
      expect(() => readNow(reader, 1)).to.throw(/another read is already waiting/);
      reader.feedEof();
      return pending.then((last) => {
        expect(last.length).to.equal(0);
        expect(readNow(reader, 4)?.length).to.equal(0);
        const boom = new Error('boom');
        reader.setException(boom);
        expect(() => readNow(reader, 4)).to.throw(boom);
      });
    });
  });
});
