import { expect } from 'chai';
import {
  ConnectionClosedError,
  IncompleteReadError,
  LimitOverrunError,
  TimeoutError,
} from '../../src/index.js';

describe('errors', () => {
  it('IncompleteReadError carries the partial bytes and the expected count', () => {
    const error = new IncompleteReadError(Buffer.from('ab'), 4);
    expect(error).to.be.instanceOf(Error);
    expect(error.name).to.equal('IncompleteReadError');
    expect(error.partial.toString()).to.equal('ab');
    expect(error.expected).to.equal(4);
    expect(error.message).to.contain('expected 4 bytes');
  });

  it('IncompleteReadError names a separator when no count was expected', () => {
    const error = new IncompleteReadError(Buffer.alloc(0), null);
    expect(error.expected).to.equal(null);
    expect(error.message).to.contain('a separator');
  });

  it('LimitOverrunError carries how many bytes were consumed', () => {
    const error = new LimitOverrunError('Separator not found', 70000);
    expect(error.name).to.equal('LimitOverrunError');
    expect(error.consumed).to.equal(70000);
  });

  it('ConnectionClosedError keeps its cause', () => {
    const cause = new Error('ECONNRESET');
    const error = new ConnectionClosedError('Connection reset', { cause });
    expect(error.name).to.equal('ConnectionClosedError');
    expect(error.cause).to.equal(cause);
  });

  it('TimeoutError records the time allowed', () => {
    const error = new TimeoutError(250);
    expect(error.name).to.equal('TimeoutError');
    expect(error.ms).to.equal(250);
    expect(error.message).to.equal('Timed out after 250 ms');
  });
});
