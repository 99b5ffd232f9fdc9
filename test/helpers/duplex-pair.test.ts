import { expect } from 'chai';
import { once } from 'node:events';
import { duplexPair } from './duplex-pair.js';

describe('duplexPair() (test helper)', () => {
  it('delivers what one end writes to the other, then end-of-stream', async () => {
    const [a, b] = duplexPair();
    const received: Buffer[] = [];
    b.on('data', (chunk: Buffer) => received.push(chunk));
    a.write('hello ');
    a.end('world');
    await once(b, 'end');
    expect(Buffer.concat(received).toString()).to.equal('hello world');
  });

  it('applies backpressure when the reader does not read', async () => {
    const [a, b] = duplexPair({ highWaterMark: 1024 });
    let accepted = 0;
    while (a.write(Buffer.alloc(256))) accepted += 256;
    expect(accepted).to.be.lessThan(4096);
    let drained = false;
    a.once('drain', () => (drained = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).to.equal(false);
    b.resume();
    await once(a, 'drain');
    a.resume();
    a.end();
    b.end();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
  });

  it('resets the peer when one end is destroyed before ending', async () => {
    const [a, b] = duplexPair();
    const failed = once(b, 'error');
    a.destroy();
    const [error] = (await failed) as [NodeJS.ErrnoException];
    expect(error.code).to.equal('ECONNRESET');
  });
});
