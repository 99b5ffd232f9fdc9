// Cancellation loses nothing: whatever reads run, and whichever of them are aborted (before any
// data, while waiting, right after data arrived), the bytes the reads returned, followed by what is
// left, are exactly the bytes fed.
import { expect } from 'chai';
import fc from 'fast-check';
import { IncompleteReadError, LimitOverrunError, StreamReader } from '../../src/modern/index.js';
import { microtasks } from '../helpers/chunkings.js';
import { abortListeners } from '../helpers/leaks.js';

type ReadOp =
  | { kind: 'readLine' }
  | { kind: 'readExactly'; n: number }
  | { kind: 'read'; n: number }
  | { kind: 'readUntil'; separator: string };

/** When the read's signal aborts: never, before the call, or after some microtasks. */
type Abort = { when: 'never' } | { when: 'before' } | { when: 'after'; ticks: number };

const readOp: fc.Arbitrary<ReadOp> = fc.oneof(
  fc.constant({ kind: 'readLine' as const }),
  fc.record({ kind: fc.constant('readExactly' as const), n: fc.integer({ min: 0, max: 12 }) }),
  fc.record({ kind: fc.constant('read' as const), n: fc.integer({ min: 0, max: 12 }) }),
  fc.record({
    kind: fc.constant('readUntil' as const),
    separator: fc.constantFrom('\n', '\r\n', 'ab'),
  }),
);

const abortPlan: fc.Arbitrary<Abort> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ when: 'never' as const }) },
  { weight: 1, arbitrary: fc.constant({ when: 'before' as const }) },
  { weight: 3, arbitrary: fc.record({ when: fc.constant('after' as const), ticks: fc.nat(6) }) },
);

const input = fc
  .array(fc.constantFrom(...'ab\r\nxyz'.split('')), { maxLength: 80 })
  .map((chars) => Buffer.from(chars.join(''), 'latin1'));

function run(reader: StreamReader, op: ReadOp, signal: AbortSignal): Promise<Buffer> {
  switch (op.kind) {
    case 'readLine':
      return reader.readLine({ signal });
    case 'readExactly':
      return reader.readExactly(op.n, { signal });
    case 'read':
      return reader.read(op.n, { signal });
    case 'readUntil':
      return reader.readUntil(op.separator, { signal });
  }
}

describe('Cancellation loses nothing (property)', () => {
  it('successful reads plus the remainder equal the input, whatever reads are aborted when', async () => {
    // Across all runs, reads must really have been aborted and completed (no vacuous property).
    let totalAborted = 0;
    let totalCompleted = 0;
    let totalPauses = 0;
    await fc.assert(
      fc.asyncProperty(
        input,
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(5), { minLength: 1, maxLength: 10 }),
        fc.array(fc.tuple(readOp, abortPlan), { maxLength: 25 }),
        fc.integer({ min: 1, max: 24 }),
        async (data, sizes, feedJitter, ops, limit) => {
          // Flow control: pause() and resume() strictly alternate, starting with pause().
          let paused = false;
          const reader = new StreamReader({
            limit,
            pause: () => {
              expect(paused, 'pause() twice in a row').to.equal(false);
              paused = true;
              totalPauses++;
            },
            resume: () => {
              expect(paused, 'resume() without pause()').to.equal(true);
              paused = false;
            },
          });
          const received: Buffer[] = [];
          let aborted = 0;
          let completed = 0;

          // The producer: chunks of the given sizes, with microtask jitter in between.
          const producer = (async () => {
            let offset = 0;
            for (let i = 0; offset < data.length; i++) {
              const size = sizes[i % sizes.length]!;
              reader.feedData(data.subarray(offset, offset + size));
              offset += size;
              await microtasks(feedJitter[i % feedJitter.length]!);
            }
            reader.feedEof();
          })();

          for (const [op, plan] of ops) {
            const controller = new AbortController();
            const reason = new Error('aborted by the test');
            if (plan.when === 'before') controller.abort(reason);
            const pending = run(reader, op, controller.signal);
            if (plan.when === 'after') {
              void microtasks(plan.ticks).then(() => controller.abort(reason));
            }
            try {
              received.push(Buffer.from(await pending));
              completed++;
            } catch (error) {
              if (error === reason) {
                aborted++;
              } else if (error instanceof IncompleteReadError) {
                received.push(Buffer.from(error.partial));
              } else if (!(error instanceof LimitOverrunError)) {
                throw error;
              }
            }
            // Every wait removed its abort listener, whichever way it settled.
            expect(abortListeners(controller.signal)).to.equal(0);
            expect(reader.paused).to.equal(paused);
            // Paused only while more than `limit` bytes are buffered.
            if (paused) expect(reader.bufferedLength).to.be.greaterThan(limit);
          }
          await producer;
          const rest = await reader.read();
          expect(reader.atEof()).to.equal(true);
          expect(paused, 'resumed once everything was read').to.equal(false);
          expect(Buffer.concat([...received, rest]).toString('latin1')).to.equal(
            data.toString('latin1'),
          );
          totalAborted += aborted;
          totalCompleted += completed;
        },
      ),
      { numRuns: 200 },
    );
    expect(totalAborted).to.be.greaterThan(0);
    expect(totalCompleted).to.be.greaterThan(0);
    expect(totalPauses).to.be.greaterThan(0);
  });

  it('a read aborted while waiting rejects with the reason itself and leaves the buffer as it was', async () => {
    const reader = new StreamReader();
    reader.feedData(Buffer.from('partial line'));
    const controller = new AbortController();
    const reason = { custom: 'reason' };
    const pending = reader.readLine({ signal: controller.signal });
    await microtasks(3);
    controller.abort(reason);
    let caught: unknown;
    try {
      await pending;
    } catch (error) {
      caught = error;
    }
    expect(caught).to.equal(reason);
    expect(reader.bufferedLength).to.equal('partial line'.length);
    reader.feedData(Buffer.from(' ends\n'));
    expect((await reader.readLine()).toString()).to.equal('partial line ends\n');
  });

  it('aborting right after the data that completes a read arrived loses nothing', async () => {
    for (let ticks = 0; ticks < 6; ticks++) {
      const reader = new StreamReader();
      const controller = new AbortController();
      const pending = reader.readExactly(4, { signal: controller.signal });
      reader.feedData(Buffer.from('abcdef'));
      await microtasks(ticks);
      controller.abort(new Error('late'));
      const got = await pending.then(
        (bytes) => bytes.toString(),
        () => '',
      );
      const rest = (await reader.read(100)).toString();
      expect(got + rest, `abort after ${ticks} microtasks`).to.equal('abcdef');
    }
  });
});
