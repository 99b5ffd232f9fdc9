import { expect } from 'chai';
import type { Duplex } from 'node:stream';
import { LazyController } from '../../src/adapter/_lazy-controller.js';
import { ModernPrimary, type ModernPrimaryOwner } from '../../src/adapter/_modern-primary.js';
import type { ConnectionContext, StreamHandler } from '../../src/modern/index.js';
import { ConnectionClosedError } from '../../src/modern/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { tick } from '../helpers/async.js';

interface Setup {
  primary: ModernPrimary;
  owner: ModernPrimaryOwner & { closes: string[] };
  end: Duplex;
  peer: Duplex;
}

function setup(handler: StreamHandler): Setup {
  const [peer, end] = duplexPair();
  peer.on('error', () => {}); // the reset a destroyed end sends its peer
  const closes: string[] = [];
  const owner = {
    id: 7,
    remoteAddress: { host: '192.0.2.1', port: 4000, family: 'IPv4' },
    lazy: new LazyController(),
    closes,
    socketClosed(): void {
      // What the reader already knows when the connection is told.
      closes.push(`closed, reader at eof ${String(primary.reader.atEof())}`);
    },
  };
  const primary = new ModernPrimary(owner, handler, end, undefined, { lingerTimeout: 1_000 });
  return { primary, owner, end, peer };
}

function received(peer: Duplex): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    peer.on('data', (chunk: Buffer) => (text += chunk.toString()));
    peer.once('end', () => resolve(text));
  });
}

describe('ModernPrimary', () => {
  it('runs the handler over its own reader and writer with the connection as context', async () => {
    let seen: ConnectionContext | undefined;
    const { primary, owner, peer } = setup(async (reader, writer, context) => {
      seen = context;
      writer.write(`got ${(await reader.readLine()).toString()}`);
      await writer.drain();
    });
    const text = received(peer);
    peer.write('hello\n');
    await primary.start();
    primary.done(); // the runner's close once the handler settled
    expect(await text).to.equal('got hello\n');
    expect(seen?.id).to.equal(7);
    expect(seen?.remoteAddress).to.equal(owner.remoteAddress);
    expect(seen?.shadow).to.equal(false);
    // The connection's own abort is the context's signal.
    owner.lazy.abort(new Error('stop'));
    expect(seen?.signal.aborted).to.equal(true);
  });

  it("listens to its socket's errors once: the writer learns them through the wire", async () => {
    let drained: unknown;
    let read: unknown;
    const { primary, end } = setup(async (reader, writer) => {
      writer.write('x'.repeat(1 << 20)); // more than the peer takes without reading
      const [d, r] = await Promise.allSettled([writer.drain(), reader.read()]);
      drained = d.status === 'rejected' ? d.reason : d.value;
      read = r.status === 'rejected' ? r.reason : r.value;
    });
    expect(end.listenerCount('error')).to.equal(1);
    const running = primary.start();
    await tick();
    end.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    await running;
    expect(drained).to.be.instanceOf(ConnectionClosedError);
    expect(read).to.be.instanceOf(ConnectionClosedError);
  });

  it('tells its connection of the close after the writer and the reader learnt it', async () => {
    const { primary, owner, peer, end } = setup(async (reader) => {
      await reader.read();
    });
    const closed = new Promise((resolve) => end.once('close', resolve));
    const running = primary.start();
    // End-of-stream: the handler returns; the end (not half-open) finishes and closes.
    peer.end();
    await running;
    await closed;
    await tick();
    expect(owner.closes).to.deep.equal(['closed, reader at eof true']);
  });

  it('stop() aborts the signal with its reason, fails the reader and destroys the socket', async () => {
    let failure: unknown;
    const { primary, owner, end } = setup(async (reader) => {
      try {
        await reader.read();
      } catch (error) {
        failure = error;
      }
    });
    const running = primary.start();
    const reason = new Error('shutdown');
    primary.stop(reason);
    await running;
    expect(owner.lazy.aborted).to.equal(true);
    expect(owner.lazy.controller.signal.reason).to.equal(reason);
    expect(failure).to.equal(reason);
    expect(end.destroyed).to.equal(true);
  });
});
