import { expect } from 'chai';
import { LimitOverrunError } from '../../src/errors.js';
import { ByteQueue } from '../../src/modern/_byte-queue.js';
import { searchSeparator } from '../../src/modern/_separator-search.js';

function queueOf(...chunks: string[]): ByteQueue {
  const queue = new ByteQueue();
  for (const chunk of chunks) queue.push(Buffer.from(chunk));
  return queue;
}

const CRLF = Buffer.from('\r\n');

describe('searchSeparator()', () => {
  it('returns the offset just past the separator, across chunks', () => {
    expect(searchSeparator(queueOf('ab\r', '\ncd'), CRLF, 0, 100, 'readUntil')).to.equal(4);
  });

  it('not found: returns minus where the next look starts (the separator length before the end)', () => {
    const queue = queueOf('abcde\r');
    const next = -searchSeparator(queue, CRLF, 0, 100, 'readUntil');
    expect(next).to.equal(5);
    queue.push(Buffer.from('\nf'));
    expect(searchSeparator(queue, CRLF, next, 100, 'readUntil')).to.equal(7);
  });

  it('with fewer new bytes than the separator, does not look and keeps its start', () => {
    expect(searchSeparator(queueOf('a'), CRLF, 0, 100, 'readUntil')).to.equal(0);
  });

  it('never returns -0: a reader storing minus it keeps an integer offset, not a boxed double', () => {
    for (const input of ['', 'a', 'ab']) {
      const found = searchSeparator(queueOf(input), CRLF, 0, 100, 'readUntil');
      expect(Object.is(found, -0), `for ${JSON.stringify(input)}`).to.equal(false);
      expect(Object.is(0 - found, -0)).to.equal(false);
    }
  });

  it('rejects a separator found past the limit, naming the read', () => {
    let caught: unknown;
    try {
      searchSeparator(queueOf('abcdef\r\n'), CRLF, 0, 4, 'readUntil');
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(LimitOverrunError);
    expect((caught as LimitOverrunError).consumed).to.equal(8);
    expect((caught as Error).message).to.match(
      /^Cannot readUntil\(\): the separator was found past/,
    );
  });

  it('rejects once no separator can be found within the limit', () => {
    let caught: unknown;
    try {
      searchSeparator(queueOf('abcdefgh'), Buffer.from('\n'), 0, 4, 'readLine');
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(LimitOverrunError);
    expect((caught as LimitOverrunError).consumed).to.equal(8);
    expect((caught as Error).message).to.match(/^Cannot readLine\(\): no separator found within/);
  });
});
