import { expect } from 'chai';
import { LazyContext, LazyController } from '../../src/adapter/_lazy-controller.js';

describe('LazyController', () => {
  it('aborts without making a controller, and a controller made later starts aborted', () => {
    const lazy = new LazyController();
    expect(lazy.aborted).to.equal(false);
    const reason = new Error('gone');
    lazy.abort(reason);
    expect(lazy.aborted).to.equal(true);
    const signal = lazy.signal;
    expect(signal.aborted).to.equal(true);
    expect(signal.reason).to.equal(reason);
  });

  it('keeps the first reason when aborted twice before the controller exists', () => {
    const lazy = new LazyController();
    const first = new Error('first');
    lazy.abort(first);
    lazy.abort(new Error('second'));
    expect(lazy.signal.reason).to.equal(first);
  });

  it('gives the same controller every time, and aborts it once made', () => {
    const lazy = new LazyController();
    const controller = lazy.controller;
    expect(lazy.controller).to.equal(controller);
    expect(lazy.signal).to.equal(controller.signal);
    let calls = 0;
    controller.signal.addEventListener('abort', () => calls++);
    const reason = new Error('closed');
    lazy.abort(reason);
    lazy.abort(new Error('later'));
    expect(calls).to.equal(1);
    expect(controller.signal.reason).to.equal(reason);
  });

  it('reports an abort made directly on its controller (the runner aborts it on idle timeout)', () => {
    const lazy = new LazyController();
    lazy.controller.abort(new Error('idle'));
    expect(lazy.aborted).to.equal(true);
  });
});

describe('LazyContext', () => {
  it('has id and remoteAddress, and its signal follows the controller', () => {
    const lazy = new LazyController();
    const context = new LazyContext(7, { host: '127.0.0.1', port: 1 }, lazy);
    expect(context.id).to.equal(7);
    expect(context.remoteAddress).to.deep.equal({ host: '127.0.0.1', port: 1 });
    expect(context.signal.aborted).to.equal(false);
    lazy.abort(new Error('closed'));
    expect(context.signal.aborted).to.equal(true);
  });

  it("has a 'shadow' property only when given one", () => {
    const lazy = new LazyController();
    expect('shadow' in new LazyContext(1, { path: '' }, lazy)).to.equal(false);
    expect(new LazyContext(1, { path: '' }, lazy, true).shadow).to.equal(true);
    expect(new LazyContext(1, { path: '' }, lazy, false).shadow).to.equal(false);
  });
});
