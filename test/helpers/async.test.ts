import { expect } from 'chai';
import { rejection, tick } from './async.js';

describe('async helpers (test helper)', () => {
  it('rejection() returns the error a promise rejects with', async () => {
    const error = new Error('boom');
    expect(await rejection(Promise.reject(error))).to.equal(error);
  });

  it('rejection() fails when the promise resolves', async () => {
    const failure = await rejection(rejection(Promise.resolve(1)));
    expect((failure as Error).message).to.equal('Expected the promise to reject');
  });

  it('tick() waits for a setImmediate turn', async () => {
    let ran = false;
    setImmediate(() => (ran = true));
    await tick();
    expect(ran).to.equal(true);
  });
});
