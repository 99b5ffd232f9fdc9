import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { OwnedSignal } from '../../src/modern/_owned-signal.js';

describe('OwnedSignal (a connection’s own signal, its state in a plain field)', () => {
  it('mirrors the abort before any later listener runs, then calls onAbort once', () => {
    const controller = new AbortController();
    const owned = new OwnedSignal(controller.signal);
    const seen: string[] = [];
    owned.onAbort = () => seen.push(`onAbort ${String(owned.aborted)}`);
    controller.signal.addEventListener('abort', () => seen.push(`later ${String(owned.aborted)}`));
    expect(owned.aborted).to.equal(false);
    controller.abort();
    controller.abort();
    expect(owned.aborted).to.equal(true);
    expect(seen).to.deep.equal(['onAbort true', 'later true']);
  });

  it('adds one listener, which the abort removes', () => {
    const controller = new AbortController();
    new OwnedSignal(controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(1);
    controller.abort();
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('of an already-aborted signal is aborted from the start', () => {
    const owned = new OwnedSignal(AbortSignal.abort());
    expect(owned.aborted).to.equal(true);
  });
});
