import { expect } from 'chai';
import {
  checkInteger,
  checkMilliseconds,
  checkPositiveInteger,
  checkSignal,
  describeValue,
} from '../../src/modern/_validate.js';

describe('modern argument checks (internal)', () => {
  it('checkInteger() throws TypeError for a non-number and RangeError for a bad number', () => {
    expect(() => checkInteger('limit', '5', 0, 'an integer')).to.throw(
      TypeError,
      'Expected `limit` to be an integer, got `5` (string)',
    );
    expect(() => checkInteger('limit', 1.5, 0, 'an integer')).to.throw(
      RangeError,
      '`1.5` (number)',
    );
    expect(() => checkInteger('limit', -1, 0, 'an integer')).to.throw(RangeError, '`-1` (number)');
    expect(checkInteger('limit', 0, 0, 'an integer')).to.equal(0);
  });

  it('checkPositiveInteger() rejects 0 and accepts 1', () => {
    expect(() => checkPositiveInteger('limit', 0)).to.throw(
      RangeError,
      'Expected `limit` to be a positive integer, got `0` (number)',
    );
    expect(checkPositiveInteger('limit', 1)).to.equal(1);
  });

  it('checkMilliseconds() accepts 0 and rejects non-numbers, negatives, NaN and Infinity', () => {
    expect(checkMilliseconds('timeout', 0)).to.equal(0);
    expect(() => checkMilliseconds('timeout', null)).to.throw(TypeError, '`null` (null)');
    for (const bad of [-1, Number.NaN, Infinity]) {
      expect(() => checkMilliseconds('timeout', bad)).to.throw(RangeError, 'non-negative number');
    }
  });

  it('checkSignal() passes undefined and AbortSignals through and rejects anything else', () => {
    const signal = new AbortController().signal;
    expect(checkSignal(undefined)).to.equal(undefined);
    expect(checkSignal(signal)).to.equal(signal);
    expect(() => checkSignal({ aborted: false })).to.throw(TypeError, 'to be an AbortSignal');
  });

  it('describeValue() shows values that cannot be converted to a string', () => {
    expect(describeValue(Object.create(null))).to.equal('`[object Object]` (object)');
    expect(describeValue(Symbol('x'))).to.equal('`Symbol(x)` (symbol)');
    expect(describeValue(12n)).to.equal('`12` (bigint)');
  });
});
