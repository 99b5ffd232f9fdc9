import { expect } from 'chai';
import { EventEmitter, getEventListeners } from 'node:events';
import { EventEmitter as EventEmitter3 } from 'eventemitter3';
import {
  ListenersController,
  isEmitterLike,
  isEventTargetLike,
} from '../../src/adapter/_listeners.js';

describe('ListenersController', () => {
  it('removes exactly the listeners it added, on emitters and EventTargets', () => {
    const ee = new EventEmitter();
    const ee3 = new EventEmitter3();
    const target = new EventTarget();
    const own = (): void => undefined;
    ee.on('x', own);
    const listeners = new ListenersController();
    let calls = 0;
    const count = (): void => void calls++;
    listeners.add(ee, 'x', count);
    listeners.add(ee3, 'y', count);
    listeners.add(target, 'z', count);
    expect(listeners.size).to.equal(3);
    ee.emit('x');
    ee3.emit('y');
    target.dispatchEvent(new Event('z'));
    expect(calls).to.equal(3);
    listeners.removeAll();
    expect(listeners.size).to.equal(0);
    expect(ee.listeners('x')).to.deep.equal([own]);
    expect(ee3.listenerCount('y')).to.equal(0);
    expect(getEventListeners(target, 'z')).to.have.length(0);
    listeners.removeAll(); // idempotent
    expect(ee.listenerCount('x')).to.equal(1);
  });

  it('removeSince() removes only the listeners added after the mark', () => {
    const ee = new EventEmitter();
    const listeners = new ListenersController();
    listeners.add(ee, 'a', () => undefined);
    const mark = listeners.size;
    listeners.add(ee, 'b', () => undefined);
    listeners.add(ee, 'c', () => undefined);
    listeners.removeSince(mark);
    expect([ee.listenerCount('a'), ee.listenerCount('b'), ee.listenerCount('c')]).to.deep.equal([
      1, 0, 0,
    ]);
    listeners.removeAll();
    expect(ee.listenerCount('a')).to.equal(0);
  });

  it('uses removeListener when an emitter has no off()', () => {
    const added: string[] = [];
    const emitter = {
      on: (event: string | symbol) => void added.push(String(event)),
      removeListener: (event: string | symbol) =>
        void added.splice(added.indexOf(String(event)), 1),
    };
    const listeners = new ListenersController();
    listeners.add(emitter, 'q', () => undefined);
    expect(added).to.deep.equal(['q']);
    listeners.removeAll();
    expect(added).to.deep.equal([]);
  });

  it('tells emitters from EventTargets', () => {
    expect(isEmitterLike(new EventEmitter())).to.equal(true);
    expect(isEmitterLike(new EventTarget())).to.equal(false);
    expect(isEventTargetLike(new EventTarget())).to.equal(true);
    expect(isEventTargetLike(null)).to.equal(false);
    expect(isEmitterLike({ on: () => undefined })).to.equal(false);
  });
});
