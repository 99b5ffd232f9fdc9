import { expect } from 'chai';
import { chunkings, cut, label, pattern } from './chunkings.js';

describe('chunkings helpers', () => {
  it('pattern() is the same bytes every time, and no shift of it within 16 MiB is equal to it', () => {
    const data = pattern(2 * 1024 * 1024);
    expect(data.equals(pattern(2 * 1024 * 1024))).to.equal(true);
    for (const shift of [1, 256, 4096, 65536, 1 << 20]) {
      expect(
        data.subarray(shift, shift + 4096).equals(data.subarray(0, 4096)),
        String(shift),
      ).to.equal(false);
    }
    expect(new Set(data.subarray(0, 4096)).size).to.be.above(200);
  });

  it('cut() splits at the given offsets, ignoring duplicates, order and out-of-range ones', () => {
    const chunks = cut(Buffer.from('abcdef'), [4, 2, 2, 0, 6, 9]);
    expect(chunks.map(String)).to.deep.equal(['ab', 'cd', 'ef']);
    expect(label(chunks)).to.equal('[2,2,2]');
  });

  it('chunkings() yields every split into at most maxParts non-empty chunks, each exactly once', () => {
    const splits = [...chunkings(Buffer.from('abcd'), { maxParts: 4 })].map((c) => c.map(String));
    // 2^(n-1) compositions of 4 bytes.
    expect(splits).to.have.length(8);
    expect(new Set(splits.map((s) => s.join('|'))).size).to.equal(8);
    for (const split of splits) expect(split.join('')).to.equal('abcd');
    expect([...chunkings(Buffer.from('abcd'), { maxParts: 2 })]).to.have.length(4);
  });
});
