import { expect } from 'chai';
import { settlesWithin } from '../../src/modern/_wait.js';

describe('settlesWithin() (internal)', () => {
  it('resolves true when the promise resolves first, leaving no timer', async () => {
    await new Promise((resolve) => setImmediate(resolve)); // mocha's own timer starts by now
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(await settlesWithin(Promise.resolve(), 60_000)).to.equal(true);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(after).to.equal(before);
  });

  it('resolves false when the time runs out first', async () => {
    expect(await settlesWithin(new Promise(() => {}), 1)).to.equal(false);
  });
});
