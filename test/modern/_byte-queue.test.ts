import { expect } from 'chai';
import fc from 'fast-check';
import {
  ByteQueue,
  COALESCE_BELOW,
  MAX_TAIL,
  MIN_TAIL,
  byteQueueStats,
} from '../../src/modern/_byte-queue.js';
import { readerStats } from '../../src/modern/_stats.js';
import { chunked, framedBytes } from '../helpers/chunkings.js';

const b = (text: string): Buffer => Buffer.from(text);

/** Bytes and segments a search examined while `work` ran. */
function examined(work: () => void): number {
  const bytes = readerStats.bytesScanned;
  const segments = byteQueueStats.segmentsVisited;
  work();
  return readerStats.bytesScanned - bytes + (byteQueueStats.segmentsVisited - segments);
}

describe('ByteQueue', () => {
  describe('#push() and #take()', () => {
    it('returns the bytes in order across chunks of every size', () => {
      const queue = new ByteQueue();
      const sizes = [1, 700, 3, 3, 511, 512, 1, 1, 20_000, 2];
      const chunks = sizes.map((size, i) => Buffer.alloc(size, 0x61 + i));
      for (const chunk of chunks) queue.push(chunk);
      const all = Buffer.concat(chunks);
      expect(queue.length).to.equal(all.length);
      const out: Buffer[] = [];
      for (const n of [5, 1, 1000, 333, 7, 20_000]) out.push(queue.take(Math.min(n, queue.length)));
      out.push(queue.take(queue.length));
      expect(Buffer.concat(out).equals(all)).to.equal(true);
      expect(queue.length).to.equal(0);
      expect(queue.segmentCount).to.equal(0);
    });

    it('keeps a chunk fed into an empty queue, and a large one, by reference', () => {
      const queue = new ByteQueue();
      const small = b('x\n');
      queue.push(small);
      expect(queue.take(2)).to.equal(small);
      const large = Buffer.alloc(COALESCE_BELOW, 0x62);
      queue.push(b('a'));
      queue.push(large);
      expect(queue.take(1).toString()).to.equal('a');
      expect(queue.take(COALESCE_BELOW)).to.equal(large);
    });

    it('copies small chunks that pile up into one tail: segments follow bytes, not chunks', () => {
      const queue = new ByteQueue();
      for (let i = 0; i < 100_000; i++) queue.push(Buffer.from([0x61 + (i % 26)]));
      // Tails double from MIN_TAIL to MAX_TAIL: 256 + 512 + ... + 16384, then 16 KiB each.
      expect(queue.segmentCount).to.be.at.most(Math.ceil(100_000 / MAX_TAIL) + 7);
      const out = queue.take(100_000);
      for (let i = 0; i < 100_000; i += 9_973) expect(out[i]).to.equal(0x61 + (i % 26));
    });

    it('starts a small tail after a large chunk, so alternating sizes waste little', () => {
      const queue = new ByteQueue();
      for (let i = 0; i < 100; i++) {
        queue.push(Buffer.alloc(COALESCE_BELOW, 0x61));
        queue.push(b('z'));
      }
      expect(queue.segmentCount).to.equal(200);
      expect(queue.length).to.equal(100 * (COALESCE_BELOW + 1));
      const first = queue.take(COALESCE_BELOW + 1);
      expect(first.subarray(COALESCE_BELOW).toString()).to.equal('z');
      // The byte after a large chunk sits in a MIN_TAIL buffer of its own.
      expect(first.length).to.equal(COALESCE_BELOW + 1);
      expect(MIN_TAIL).to.be.below(COALESCE_BELOW);
    });

    it('never changes bytes it has handed out when more bytes arrive', () => {
      const queue = new ByteQueue();
      queue.push(b('ab'));
      queue.push(b('cd'));
      const view = queue.take(3);
      queue.push(b('efgh'));
      queue.push(b('ijkl'));
      expect(view.toString()).to.equal('abc');
      expect(queue.take(queue.length).toString()).to.equal('defghijkl');
      queue.push(b('m'));
      queue.push(b('n'));
      expect(view.toString()).to.equal('abc');
      expect(queue.take(2).toString()).to.equal('mn');
    });

    it('takeChunk() returns the rest of the first segment without copying', () => {
      const queue = new ByteQueue();
      const large = Buffer.alloc(1000, 0x61);
      queue.push(large);
      queue.push(b('x'));
      queue.take(10);
      const chunk = queue.takeChunk();
      expect(chunk.length).to.equal(990);
      expect(chunk.buffer).to.equal(large.buffer);
      expect(queue.takeChunk().toString()).to.equal('x');
    });
  });

  describe('#indexOf()', () => {
    it('finds a separator split across segments', () => {
      const queue = new ByteQueue();
      queue.push(Buffer.alloc(600, 0x61));
      queue.push(b('\r'));
      queue.push(Buffer.alloc(600, 0x62));
      queue.push(b('\r'));
      queue.push(Buffer.concat([b('\n'), Buffer.alloc(600, 0x63)]));
      expect(queue.indexOf(b('\r\n'), 0)).to.equal(1201);
      expect(queue.indexOf(b('\r\n'), 1202)).to.equal(-1);
      expect(queue.indexOf(b('b\rb'), 0)).to.equal(-1);
    });

    it('agrees with Buffer#indexOf on the concatenation, for any chunking and start', () => {
      fc.assert(
        fc.property(
          chunked(framedBytes(b('aba'), { maxLength: 1500 })),
          fc.constantFrom('aba', 'a', '\0\xff', 'xax'),
          fc.nat(),
          ({ data, chunks }, separator, start) => {
            const queue = new ByteQueue();
            for (const chunk of chunks) queue.push(Buffer.from(chunk));
            const sep = Buffer.from(separator, 'latin1');
            const from = data.length === 0 ? 0 : start % data.length;
            expect(queue.indexOf(sep, from)).to.equal(data.indexOf(sep, from));
          },
        ),
      );
    });

    it('examines each byte about once when a search resumes after each chunk', () => {
      for (const separator of ['\n', '\r\n', 'STOP']) {
        const sep = b(separator);
        const queue = new ByteQueue();
        let from = 0;
        const work = examined(() => {
          for (let i = 0; i < 50_000; i++) {
            // Partial separators (its first byte) every few bytes, never a whole one.
            queue.push(b(i % 7 === 0 && sep.length > 1 ? separator[0]! : 'x'));
            if (queue.length - from >= sep.length) {
              expect(queue.indexOf(sep, from)).to.equal(-1);
              from = queue.length + 1 - sep.length;
            }
          }
        });
        // A search from the start each time would examine ~1 250 000 000 bytes.
        // Per byte: itself, the separator length before it, and a segment visit or two.
        expect(work).to.be.at.most(50_000 * 2 * (sep.length + 1));
      }
    });

    it('starts a fresh search at the first segment, however many are buffered', () => {
      const queue = new ByteQueue();
      // 2048 segments: large chunks each followed by a line break in a small tail.
      for (let i = 0; i < 1024; i++) {
        queue.push(Buffer.alloc(COALESCE_BELOW, 0x61));
        queue.push(b('\n'));
      }
      const work = examined(() => {
        for (let i = 0; i < 1024; i++) {
          const index = queue.indexOf(b('\n'), 0);
          expect(index).to.equal(COALESCE_BELOW);
          queue.take(index + 1);
        }
      });
      // Walking from the last segment to the first on each search: ~2 000 000 segment visits.
      expect(work).to.be.at.most(1024 * (COALESCE_BELOW + 1 + 3));
    });
  });
});
