import { expect } from 'chai';
import { findPrefixAtEnd } from '../../src/legacy/_terminator.js';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('findPrefixAtEnd() (asynchat find_prefix_at_end)', () => {
  it('finds a partial terminator at the end (CPython TestHelperFunctions)', () => {
    expect(findPrefixAtEnd(b('qwerty\r'), b('\r\n'))).to.equal(1);
    expect(findPrefixAtEnd(b('qwertydkjf'), b('\r\n'))).to.equal(0);
  });

  it('returns the longest proper prefix, never the whole needle', () => {
    expect(findPrefixAtEnd(b('abcqq'), b('qqq'))).to.equal(2);
    expect(findPrefixAtEnd(b('qqq'), b('qqq'))).to.equal(2);
    expect(findPrefixAtEnd(b('q'), b('qqq'))).to.equal(1);
    expect(findPrefixAtEnd(b('xab'), b('abc'))).to.equal(2);
    expect(findPrefixAtEnd(b('xa'), b('abab'))).to.equal(1);
  });

  it('handles an empty haystack and a one-byte needle', () => {
    expect(findPrefixAtEnd(b(''), b('\r\n'))).to.equal(0);
    expect(findPrefixAtEnd(b('abc\n'), b('\n'))).to.equal(0);
  });
});
