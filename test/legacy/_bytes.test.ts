import { expect } from 'chai';
import { describeValue, toBuffer, validatePositiveInteger } from '../../src/legacy/_bytes.js';

describe('legacy byte helpers (internal)', () => {
  it('toBuffer() keeps Buffers, views other Uint8Arrays without copying, encodes strings', () => {
    const buffer = Buffer.from('abc');
    expect(toBuffer(buffer, 'push')).to.equal(buffer);
    const bytes = new Uint8Array([1, 2, 3, 4]).subarray(1, 3);
    const view = toBuffer(bytes, 'push');
    expect([...view]).to.deep.equal([2, 3]);
    bytes[0] = 9;
    expect(view[0]).to.equal(9); // a view, not a copy
    expect(toBuffer('é', 'push')).to.deep.equal(Buffer.from([0xc3, 0xa9]));
  });

  it('toBuffer() names the method and the value in its TypeError', () => {
    expect(() => toBuffer(42, 'push')).to.throw(
      TypeError,
      'Expected `data` of push() to be a Uint8Array or a string, got `42` (number)',
    );
  });

  it('describeValue() gives a short, safe description of any value', () => {
    expect(describeValue(null)).to.equal('null');
    expect(describeValue([1])).to.equal('Array');
    expect(describeValue({})).to.equal('Object');
    expect(describeValue(() => 1)).to.equal('Function');
    expect(describeValue(Symbol('s'))).to.equal('Symbol(s)');
    expect(describeValue(true)).to.equal('true');
    expect(describeValue(3n)).to.equal('3');
    expect(describeValue(undefined)).to.equal('undefined');
  });

  it('validatePositiveInteger() accepts positive safe integers only', () => {
    expect(validatePositiveInteger(1, 'bufferSize')).to.equal(1);
    for (const bad of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, '1']) {
      expect(() => validatePositiveInteger(bad, 'bufferSize')).to.throw(RangeError, 'bufferSize');
    }
  });
});
