import { expect } from 'chai';
import {
  OutputComparator,
  type ComparisonDivergence,
  type ComparisonSide,
} from '../../src/adapter/_output-comparator.js';

function harness(limit = 1024, window = 4) {
  const events: {
    divergences: ComparisonDivergence[];
    overruns: Array<[ComparisonSide, number]>;
    equal: number;
  } = { divergences: [], overruns: [], equal: 0 };
  const comparator = new OutputComparator({
    limit,
    window,
    onDivergence: (d) => events.divergences.push(d),
    onOverrun: (side, buffered) => events.overruns.push([side, buffered]),
    onEqual: () => events.equal++,
  });
  return { comparator, events };
}

const b = (text: string): Buffer => Buffer.from(text);

describe('OutputComparator (internal)', () => {
  it('reports equal outputs split differently on each side', () => {
    const { comparator, events } = harness();
    for (const piece of ['he', 'llo w', 'orld']) comparator.push(0, b(piece));
    for (const piece of ['h', 'ello', ' ', 'world']) comparator.push(1, b(piece));
    expect(comparator.bufferedLength).to.equal(0);
    comparator.end(0);
    expect(events.equal).to.equal(0);
    comparator.end(1);
    expect(events).to.deep.equal({ divergences: [], overruns: [], equal: 1 });
    expect(comparator.settled).to.equal(true);
  });

  it('finds the first differing byte across chunk boundaries, with the context on each side', () => {
    const { comparator, events } = harness(1024, 3);
    comparator.push(0, b('abcdefXhij'));
    comparator.push(1, b('abc'));
    comparator.push(1, b('de'));
    comparator.push(1, b('fY'));
    // Waits for `window` bytes after the offset from each side.
    expect(events.divergences).to.have.length(0);
    comparator.push(1, b('hij'));
    expect(events.divergences).to.have.length(1);
    const [d] = events.divergences;
    expect(d!.offset).to.equal(6);
    expect(d!.start).to.equal(3);
    expect(d!.primary.toString()).to.equal('defXhi');
    expect(d!.shadow.toString()).to.equal('defYhi');
  });

  it('reports bytes past the end of the other side as a divergence', () => {
    const { comparator, events } = harness(1024, 8);
    comparator.push(0, b('same'));
    comparator.push(1, b('same+more'));
    comparator.end(0);
    comparator.end(1);
    expect(events.divergences).to.have.length(1);
    expect(events.divergences[0]).to.include({ offset: 4, start: 0 });
    expect(events.divergences[0]!.primary.toString()).to.equal('same');
    expect(events.divergences[0]!.shadow.toString()).to.equal('same+more');
  });

  it('flush() reports a divergence still waiting for its window', () => {
    const { comparator, events } = harness(1024, 16);
    comparator.push(0, b('ab1'));
    comparator.push(1, b('ab2'));
    expect(events.divergences).to.have.length(0);
    comparator.flush();
    expect(events.divergences).to.have.length(1);
    expect(events.divergences[0]!.primary.toString()).to.equal('ab1');
    comparator.push(0, b('more'));
    expect(events.divergences).to.have.length(1);
  });

  it('keeps only the lead of one side, and reports an overrun past the limit', () => {
    const { comparator, events } = harness(10, 4);
    comparator.push(0, b('0123456789'));
    comparator.push(1, b('01234'));
    expect(comparator.bufferedLength).to.equal(5);
    comparator.push(0, b('abcdef'));
    expect(events.overruns).to.deep.equal([[0, 11]]);
    expect(comparator.settled).to.equal(true);
    comparator.push(1, b('x'));
    expect(events.divergences).to.have.length(0);
  });

  it('stop() ends the comparison silently and releases what it held', () => {
    const { comparator, events } = harness();
    comparator.push(0, b('held'));
    comparator.stop();
    expect(comparator.bufferedLength).to.equal(0);
    comparator.end(0);
    comparator.end(1);
    expect(events).to.deep.equal({ divergences: [], overruns: [], equal: 0 });
  });
});
