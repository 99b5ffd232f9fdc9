import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { timeout, TimeoutError } from '../../src/modern/index.js';
import { rejection } from '../helpers/async.js';

describe('timeout()', () => {
  it('resolves with the value of work that finishes in time, its signal not aborted', async () => {
    let seen: AbortSignal | undefined;
    const value = await timeout(10_000, (signal) => {
      seen = signal;
      return Promise.resolve(42);
    });
    expect(value).to.equal(42);
    expect(seen!.aborted).to.equal(false);
  });

  it('rejects with TimeoutError and aborts the signal it gave the work', async () => {
    let seen: AbortSignal | undefined;
    const error = await rejection(
      timeout(
        10,
        (signal) =>
          new Promise<never>((_resolve, reject) => {
            seen = signal;
            signal.addEventListener('abort', () => reject(new Error('work saw the abort')), {
              once: true,
            });
          }),
      ),
    );
    expect(error).to.be.instanceOf(TimeoutError);
    expect((error as TimeoutError).ms).to.equal(10);
    expect(seen!.aborted).to.equal(true);
    expect(seen!.reason).to.equal(error);
  });

  it('rejects with the error of work that fails in time', async () => {
    const boom = new Error('boom');
    expect(await rejection(timeout(10_000, () => Promise.reject(boom)))).to.equal(boom);
    const thrown = await rejection(
      timeout(10_000, () => {
        throw boom;
      }),
    );
    expect(thrown).to.equal(boom);
  });

  it('an outer signal cancels the work with its own reason and its listener is removed', async () => {
    const controller = new AbortController();
    let inner: AbortSignal | undefined;
    const pending = timeout(
      10_000,
      (signal) => {
        inner = signal;
        return new Promise<void>(() => undefined);
      },
      { signal: controller.signal },
    );
    expect(getEventListeners(controller.signal, 'abort').length).to.equal(1);
    const reason = new Error('cancelled');
    controller.abort(reason);
    expect(await rejection(pending)).to.equal(reason);
    expect(inner!.reason).to.equal(reason);
    expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
  });

  it('removes the outer listener when work settles first', async () => {
    const controller = new AbortController();
    await timeout(10_000, () => Promise.resolve(), { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
  });

  it('rejects bad arguments', async () => {
    expect(await rejection(timeout(-1, () => Promise.resolve()))).to.be.instanceOf(RangeError);
    expect(await rejection(timeout(10, 'x' as unknown as () => Promise<void>))).to.be.instanceOf(
      TypeError,
    );
  });

  describe('TimeoutError and the DOMException TimeoutError of AbortSignal.timeout()', () => {
    const never = (signal: AbortSignal): Promise<never> =>
      new Promise<never>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(new Error('late')), { once: true }),
      );

    it("rejects with the library's TimeoutError at its own deadline: instanceof, name and ms", async () => {
      const error = await rejection(timeout(5, never));
      expect(error).to.be.instanceOf(TimeoutError);
      expect(error).to.not.be.instanceOf(DOMException);
      expect((error as Error).name).to.equal('TimeoutError');
      expect((error as TimeoutError).ms).to.equal(5);
    });

    it("rejects with an outer AbortSignal.timeout()'s DOMException unchanged: same name, not instanceof", async () => {
      const signal = AbortSignal.timeout(5);
      const error = await rejection(timeout(60_000, never, { signal }));
      expect(error).to.equal(signal.reason); // the contract: the signal's reason, unchanged
      expect(error).to.be.instanceOf(DOMException);
      expect(error).to.not.be.instanceOf(TimeoutError);
      expect((error as Error).name).to.equal('TimeoutError'); // the check the docs recommend
      expect(getEventListeners(signal, 'abort')).to.have.length(0);
    });
  });
});
