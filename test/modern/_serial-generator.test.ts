import { expect } from 'chai';
import { serialGenerator } from '../../src/modern/_serial-generator.js';
import { rejection } from '../helpers/async.js';

const END = 'end';

/** A pull source fed by hand: `push()` settles the waiting pull or buffers the item. */
function source(): {
  push(item: string): void;
  fail(error: unknown): void;
  pulls: number;
  concurrentPulls: number;
  generator: AsyncGenerator<string, void, undefined>;
} {
  const buffered: string[] = [];
  let waiting: { resolve(item: string): void; reject(error: unknown): void } | null = null;
  const state = {
    pulls: 0,
    concurrentPulls: 0,
    push(item: string) {
      if (waiting === null) buffered.push(item);
      else {
        const settle = waiting;
        waiting = null;
        settle.resolve(item);
      }
    },
    fail(error: unknown) {
      const settle = waiting!;
      waiting = null;
      settle.reject(error);
    },
    generator: serialGenerator<string>((resolve, reject) => {
      state.pulls++;
      if (waiting !== null) state.concurrentPulls++;
      if (buffered.length > 0) return buffered.shift();
      waiting = { resolve, reject };
      return undefined;
    }, END),
  };
  return state;
}

describe('serialGenerator()', () => {
  it('yields items returned at once and items settled later, until the end item', async () => {
    const s = source();
    s.push('a');
    expect(await s.generator.next()).to.deep.equal({ done: false, value: 'a' });
    const later = s.generator.next();
    s.push('b');
    expect(await later).to.deep.equal({ done: false, value: 'b' });
    s.push(END);
    expect(await s.generator.next()).to.deep.equal({ done: true, value: undefined });
    expect(await s.generator.next()).to.deep.equal({ done: true, value: undefined });
    expect(s.pulls).to.equal(3);
  });

  it('runs next() calls made while one waits one after another, never two pulls at once', async () => {
    const s = source();
    const calls = [s.generator.next(), s.generator.next(), s.generator.next()];
    for (const item of ['a', 'b', END]) {
      await new Promise((resolve) => setImmediate(resolve));
      s.push(item);
    }
    const results = await Promise.all(calls);
    expect(results.map((r) => (r.done ? 'done' : r.value))).to.deep.equal(['a', 'b', 'done']);
    expect(s.concurrentPulls).to.equal(0);
  });

  it('an error rejects that next() and ends the iteration', async () => {
    const s = source();
    const pending = s.generator.next();
    const boom = new Error('boom');
    s.fail(boom);
    expect(await rejection(pending)).to.equal(boom);
    expect(await s.generator.next()).to.deep.equal({ done: true, value: undefined });
  });

  it('a pull that throws rejects that next() and ends the iteration', async () => {
    const boom = new Error('thrown');
    const generator = serialGenerator<string>(() => {
      throw boom;
    }, END);
    expect(await rejection(generator.next())).to.equal(boom);
    expect(await generator.next()).to.deep.equal({ done: true, value: undefined });
  });

  it('return() and throw() end the iteration after the pending next()', async () => {
    const s = source();
    const pending = s.generator.next();
    const ended = s.generator.return();
    s.push('a');
    expect(await pending).to.deep.equal({ done: false, value: 'a' });
    expect(await ended).to.deep.equal({ done: true, value: undefined });
    expect(await s.generator.next()).to.deep.equal({ done: true, value: undefined });
    const other = source();
    const error = new Error('stop');
    expect(await rejection(other.generator.throw(error))).to.equal(error);
    expect(await other.generator.next()).to.deep.equal({ done: true, value: undefined });
    expect(other.generator[Symbol.asyncIterator]()).to.equal(other.generator);
  });
});
