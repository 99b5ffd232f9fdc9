import { expect } from 'chai';
import { FlowControl } from '../../src/modern/_flow-control.js';

describe('FlowControl (a reader’s hold on its transport)', () => {
  it('pauses once over 2 × limit, resumes once back to limit, and never twice in a row', () => {
    const calls: string[] = [];
    const flow = new FlowControl({
      pause: () => calls.push('pause'),
      resume: () => calls.push('resume'),
    });
    flow.pauseOver(200, 100);
    expect(flow.paused).to.equal(false);
    flow.pauseOver(201, 100);
    flow.pauseOver(500, 100);
    expect(flow.paused).to.equal(true);
    flow.resumeUnder(101, 100);
    expect(flow.paused).to.equal(true);
    flow.resumeUnder(100, 100);
    flow.resumeUnder(0, 100);
    flow.resume();
    expect(flow.paused).to.equal(false);
    expect(calls).to.deep.equal(['pause', 'resume']);
  });

  it('new hooks inherit the paused state; without hooks it only keeps the state', () => {
    const calls: string[] = [];
    const flow = new FlowControl({});
    flow.pauseOver(3, 1);
    expect(flow.paused).to.equal(true);
    flow.set({ resume: () => calls.push('resume') });
    flow.resume();
    expect(calls).to.deep.equal(['resume']);
    flow.set(null);
    flow.pauseOver(3, 1);
    flow.resume();
    expect(flow.paused).to.equal(false);
  });
});
