import { expect } from 'chai';
import { rejection, tick, untilWithin } from './async.js';

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

  it('untilWithin() resolves once a timer makes the condition true', async () => {
    let done = false;
    const timer = setTimeout(() => (done = true), 20);
    try {
      await untilWithin(2_000, () => done);
    } finally {
      clearTimeout(timer);
    }
    expect(done).to.equal(true);
  });

  it('untilWithin() rejects once its time has passed without the condition', async () => {
    const started = performance.now();
    const failure = await rejection(untilWithin(30, () => false));
    expect((failure as Error).message).to.equal('Condition not met within 30 ms');
    expect(performance.now() - started).to.be.at.least(30);
  });
});
