import { expect } from 'chai';
import { capture, captured, release } from '../../src/modern/_capture.js';
import { rejection } from '../helpers/async.js';

describe('capture (one shared promise executor)', () => {
  it('hands out the functions that settle the promise just made, and release() lets go of them', async () => {
    const first = new Promise<string>(capture);
    const resolve = captured.resolve as (value: string) => void;
    const second = new Promise<string>(capture);
    const reject = captured.reject!;
    release();
    expect(captured.resolve).to.equal(null);
    expect(captured.reject).to.equal(null);
    resolve('one');
    const error = new Error('two');
    reject(error);
    expect(await first).to.equal('one');
    expect(await rejection(second)).to.equal(error);
  });
});
