import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { OwnedSignal } from '../../src/modern/_owned-signal.js';
import { noneOrLiveOwner, ReadCancel } from '../../src/modern/_read-cancel.js';

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

describe('ReadCancel (how a waiting read listens to its signal)', () => {
  it("listens to a user's signal only while the read waits", () => {
    const aborts: string[] = [];
    const cancel = new ReadCancel(() => aborts.push('abort'));
    const controller = new AbortController();
    cancel.watch(controller.signal);
    expect(cancel.signal).to.equal(controller.signal);
    expect(listeners(controller.signal)).to.equal(1);
    cancel.unwatch();
    expect(cancel.signal).to.equal(undefined);
    expect(listeners(controller.signal)).to.equal(0);
    controller.abort();
    expect(aborts).to.deep.equal([]);
  });

  it("cancels the read waiting with a user's signal when it aborts", () => {
    const aborts: (AbortSignal | undefined)[] = [];
    const cancel = new ReadCancel(() => aborts.push(cancel.signal));
    const controller = new AbortController();
    cancel.watch(controller.signal);
    controller.abort();
    expect(aborts).to.deep.equal([controller.signal]);
  });

  it("gives the owner's signal one listener, whatever the number of reads that pass it", () => {
    const cancel = new ReadCancel(() => undefined);
    const controller = new AbortController();
    cancel.own(new OwnedSignal(controller.signal));
    expect(cancel.owner?.signal).to.equal(controller.signal);
    expect(listeners(controller.signal)).to.equal(1);
    for (let i = 0; i < 3; i++) {
      cancel.watch(controller.signal);
      expect(listeners(controller.signal)).to.equal(1);
      cancel.unwatch();
      expect(listeners(controller.signal)).to.equal(1);
    }
  });

  it("cancels on the owner's abort only a read that waits with the owner's signal", () => {
    let aborts = 0;
    const cancel = new ReadCancel(() => aborts++);
    const owner = new AbortController();
    const other = new AbortController();
    cancel.own(new OwnedSignal(owner.signal));
    cancel.watch(other.signal);
    owner.abort();
    expect(aborts).to.equal(0);
    expect(listeners(owner.signal)).to.equal(0);
    cancel.unwatch();

    const again = new ReadCancel(() => aborts++);
    const second = new AbortController();
    again.own(new OwnedSignal(second.signal));
    again.watch(second.signal);
    second.abort();
    expect(aborts).to.equal(1);
    expect(listeners(second.signal)).to.equal(0);
  });

  it("noneOrLiveOwner(): no signal, or the owner's before its abort; never a user's signal", () => {
    const cancel = new ReadCancel(() => undefined);
    const owner = new AbortController();
    const user = new AbortController();
    expect(noneOrLiveOwner(undefined, null)).to.equal(true);
    expect(noneOrLiveOwner(owner.signal, null)).to.equal(false);
    expect(noneOrLiveOwner(owner.signal, cancel)).to.equal(false);
    cancel.own(new OwnedSignal(owner.signal));
    expect(noneOrLiveOwner(undefined, cancel)).to.equal(true);
    expect(noneOrLiveOwner(owner.signal, cancel)).to.equal(true);
    expect(noneOrLiveOwner(user.signal, cancel)).to.equal(false);
    owner.abort();
    expect(noneOrLiveOwner(owner.signal, cancel)).to.equal(false);
  });
});
