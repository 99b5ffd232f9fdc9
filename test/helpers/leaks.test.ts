import { expect } from 'chai';
import net from 'node:net';
import { activeResources, expectNoLeaks } from './leaks.js';

describe('expectNoLeaks()', () => {
  it('fails while a server is still listening, and passes once it is closed', async () => {
    // After a first await, so that mocha's own timeout timer for this test is counted too.
    await Promise.resolve();
    const before = activeResources();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    let caught: unknown;
    try {
      await expectNoLeaks(before, { maxTurns: 3, settleMs: 0 });
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).message).to.match(/TCPServerWrap: \d+ before, \d+ now/);
    await new Promise((resolve) => server.close(resolve));
    await expectNoLeaks(before);
  });

  it('counts a pending timer until it is cleared', async () => {
    await Promise.resolve();
    const before = activeResources();
    const timer = setTimeout(() => {}, 60_000);
    expect(activeResources().Timeout ?? 0).to.equal((before.Timeout ?? 0) + 1);
    clearTimeout(timer);
    await expectNoLeaks(before);
  });

  it('waits for a short timer that fires by itself, and still fails on one that outlives the wait', async () => {
    await Promise.resolve();
    const before = activeResources();
    let fired = false;
    setTimeout(() => (fired = true), 30);
    await expectNoLeaks(before, { maxTurns: 1 });
    expect(fired).to.equal(true);

    const long = setTimeout(() => {}, 60_000);
    let caught: unknown;
    try {
      await expectNoLeaks(before, { maxTurns: 1, settleMs: 50 });
    } catch (error) {
      caught = error;
    } finally {
      clearTimeout(long);
    }
    expect((caught as Error).message).to.match(/Timeout: \d+ before, \d+ now/);
  });
});
