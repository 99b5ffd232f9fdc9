import { expect } from 'chai';
import { SimpleProducer } from '../../src/legacy/index.js';

function drain(producer: SimpleProducer): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const piece = producer.more();
    if (piece.length === 0) return pieces;
    pieces.push(piece.toString());
  }
  throw new Error('producer never ran dry');
}

describe('SimpleProducer', () => {
  it('hands out pieces of at most bufferSize bytes, then an empty one', () => {
    expect(drain(new SimpleProducer('hello world', 5))).to.deep.equal(['hello', ' worl', 'd']);
  });

  it('defaults to 512-byte pieces', () => {
    const pieces = drain(new SimpleProducer(Buffer.alloc(1100, 0x61)));
    expect(pieces.map((p) => p.length)).to.deep.equal([512, 512, 76]);
  });

  it('encodes a string as UTF-8 before splitting it into byte pieces', () => {
    const producer = new SimpleProducer('€€', 3);
    expect(producer.more()).to.deep.equal(Buffer.from('€', 'utf8'));
    expect(producer.more()).to.deep.equal(Buffer.from('€', 'utf8'));
    expect(producer.more().length).to.equal(0);
    expect(producer.more().length).to.equal(0);
  });

  it('rejects bad arguments', () => {
    expect(() => new SimpleProducer('x', 0)).to.throw(
      RangeError,
      'Expected `bufferSize` to be a positive integer, got `0` (number)',
    );
    expect(() => new SimpleProducer(7 as unknown as string)).to.throw(TypeError);
  });
});
