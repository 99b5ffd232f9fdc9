import { expect } from 'chai';
import { Fifo } from '../../src/legacy/_fifo.js';
import { legacyStats } from '../../src/legacy/_stats.js';

describe('Fifo (internal output queue)', () => {
  it('keeps FIFO order through push, unshift, setFirst and wrap-around', () => {
    const fifo = new Fifo<number>();
    const model: number[] = [];
    let mismatches = 0;
    // A deterministic mix of operations that wraps the ring and grows it several times.
    for (let i = 0; i < 5_000; i++) {
      const op = (i * 7919) % 10;
      if (op < 5) {
        fifo.push(i);
        model.push(i);
      } else if (op < 7) {
        fifo.unshift(-i);
        model.unshift(-i);
      } else if (op === 7 && model.length > 0) {
        fifo.setFirst(i * 2);
        model[0] = i * 2;
      } else if (fifo.shift() !== model.shift()) {
        mismatches++;
      }
      if (fifo.length !== model.length || fifo.first() !== model[0]) mismatches++;
    }
    while (model.length > 0) if (fifo.shift() !== model.shift()) mismatches++;
    expect(mismatches).to.equal(0);
    expect(fifo.shift()).to.equal(undefined);
    expect(fifo.length).to.equal(0);
  });

  it('moves each item O(1) times on average: 100 000 pushes and shifts copy fewer than 2 per item', () => {
    const fifo = new Fifo<number>();
    const before = legacyStats.queueMoves;
    const items = 100_000;
    for (let i = 0; i < items; i++) fifo.push(i);
    let outOfOrder = 0;
    for (let i = 0; i < items; i++) if (fifo.shift() !== i) outOfOrder++;
    expect(outOfOrder).to.equal(0);
    const moves = legacyStats.queueMoves - before;
    // Growth by doubling copies 8 + 16 + ... + 65536 < 2 × items slots; shift() copies nothing.
    expect(moves).to.be.greaterThan(0);
    expect(moves).to.be.lessThan(2 * items);
  });

  it('clear() empties the queue and it stays usable', () => {
    const fifo = new Fifo<string>();
    for (let i = 0; i < 100; i++) fifo.push(`${i}`);
    fifo.clear();
    expect(fifo.length).to.equal(0);
    expect(fifo.first()).to.equal(undefined);
    fifo.push('again');
    expect(fifo.shift()).to.equal('again');
  });
});
