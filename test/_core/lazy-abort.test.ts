import { expect } from 'chai';
import {
  abortSlot,
  controllerOf,
  NOT_ABORTED,
  slotAborted,
  type AbortSlot,
} from '../../src/_core/lazy-abort.js';

describe('a lazily made AbortController (_core/lazy-abort)', () => {
  it('makes no controller until asked for, then always the same one', () => {
    let slot: AbortSlot = NOT_ABORTED;
    expect(slotAborted(slot)).to.equal(false);
    expect(slot).to.not.be.instanceOf(AbortController);
    const controller = controllerOf(slot);
    slot = controller;
    expect(controller.signal.aborted).to.equal(false);
    expect(controllerOf(slot)).to.equal(controller);
  });

  it('an abort before the controller is remembered, without making it; the controller is born aborted with the first reason', () => {
    const first = new Error('first');
    let slot = abortSlot(NOT_ABORTED, first);
    expect(slot).to.not.be.instanceOf(AbortController);
    expect(slotAborted(slot)).to.equal(true);
    slot = abortSlot(slot, new Error('second'));
    const controller = controllerOf(slot);
    expect(controller.signal.aborted).to.equal(true);
    expect(controller.signal.reason).to.equal(first);
  });

  it('an abort once the controller exists aborts it; its first reason stays', () => {
    const controller = controllerOf(NOT_ABORTED);
    let aborts = 0;
    controller.signal.addEventListener('abort', () => aborts++);
    const first = new Error('first');
    let slot = abortSlot(controller, first);
    slot = abortSlot(slot, new Error('second'));
    expect(slot).to.equal(controller);
    expect(slotAborted(slot)).to.equal(true);
    expect(controller.signal.reason).to.equal(first);
    expect(aborts).to.equal(1);
  });
});
