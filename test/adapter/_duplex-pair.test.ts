import { expect } from 'chai';
import { once } from 'node:events';
import { duplexPair } from '../../src/adapter/_duplex-pair.js';

// The configuration the mixed server gives its shadow pairs; the socket-like defaults are
// covered by test/helpers/duplex-pair.test.ts.
const shadow = { allowHalfOpen: true, writeToGonePeer: 'discard' } as const;

describe('duplexPair (internal)', () => {
  it('carries bytes both ways and end-of-stream one way at a time (half-close)', async () => {
    const [a, b] = duplexPair(shadow);
    const received: Buffer[] = [];
    b.on('data', (chunk: Buffer) => received.push(chunk));
    a.end('ping');
    await once(b, 'end');
    expect(Buffer.concat(received).toString()).to.equal('ping');
    // b can still answer after a's end-of-stream.
    const answer = once(a, 'data');
    b.write('pong');
    expect(String((await answer)[0])).to.equal('pong');
    b.end();
    a.resume();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
  });

  it('pushes back on the writer while the reader does not read', () => {
    const [a, b] = duplexPair({ ...shadow, highWaterMark: 1024 });
    let accepted = true;
    for (let i = 0; i < 10 && accepted; i++) accepted = a.write(Buffer.alloc(512));
    expect(accepted).to.equal(false);
    expect(b.readableLength).to.be.at.most(2048);
    b.on('error', () => {}); // the reset below
    a.destroy();
  });

  it('resets the peer when an end is destroyed before finishing', async () => {
    const [a, b] = duplexPair(shadow);
    const errors: unknown[] = [];
    b.on('error', (error) => errors.push(error));
    const closed = new Promise<void>((resolve) => b.once('close', () => resolve()));
    a.destroy();
    await closed;
    expect(errors).to.have.length(1);
    expect(errors[0]).to.have.property('code', 'ECONNRESET');
  });

  it('discards, without failing, what is written to an end that closed after finishing', async () => {
    const [a, b] = duplexPair(shadow);
    const errors: unknown[] = [];
    b.on('error', (error) => errors.push(error));
    a.end();
    await once(a, 'finish');
    a.destroy();
    await new Promise<void>((resolve) => b.write('lost', () => resolve()));
    b.resume();
    await once(b, 'end');
    expect(errors).to.deep.equal([]);
    expect(b.destroyed).to.equal(false);
    b.destroy();
  });
});
