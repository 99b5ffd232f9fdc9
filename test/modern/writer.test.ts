import { getEventListeners, once } from 'node:events';
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import { ConnectionClosedError, StreamWriter } from '../../src/modern/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { wiredWriter } from '../../src/modern/writer.js';
import { tick, rejection } from '../helpers/async.js';

/** Tracks whether a promise has settled, without affecting it. */
function track(promise: Promise<unknown>): { settled: boolean } {
  const state = { settled: false };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

/** Writes until the transport reports congestion, with data queued behind. Bounded. */
function fill(writer: StreamWriter): void {
  const chunk = Buffer.alloc(4096, 0x61);
  for (let i = 0; i < 1000 && writer.bufferedLength < 4 * chunk.length; i++) writer.write(chunk);
  expect(writer.transport.writableNeedDrain).to.equal(true);
}

/** Reads everything from `end` into a string until it ends (without destroying it). */
function collect(end: Duplex): Promise<string> {
  const parts: Buffer[] = [];
  end.on('data', (chunk: Buffer) => parts.push(chunk));
  return once(end, 'end').then(() => Buffer.concat(parts).toString());
}

describe('StreamWriter (over an in-memory duplex pair)', () => {
  let ends: Duplex[] = [];
  afterEach(() => {
    for (const end of ends) end.destroy();
    ends = [];
  });
  function pair(highWaterMark = 16 * 1024): [StreamWriter, Duplex] {
    const [a, b] = duplexPair({ highWaterMark, allowHalfOpen: true });
    b.on('error', () => undefined); // the peer's view of a reset is not under test here
    ends.push(a, b);
    // A polite peer: it ends its side once it saw ours end, so a close does not linger.
    b.once('end', () => b.end());
    return [new StreamWriter(a), b];
  }

  it('close() lingers until the peer ends its side, reading and discarding its input', async () => {
    const [a, b] = duplexPair({ highWaterMark: 16 * 1024, allowHalfOpen: true });
    ends.push(a, b);
    const writer = new StreamWriter(a);
    const received = collect(b);
    let closed = false;
    void writer.waitClosed().then(() => (closed = true));
    writer.write('reply\n');
    writer.close();
    // The peer goes on sending after our close: it is read and thrown away, never a reset.
    for (let i = 0; i < 100; i++) b.write(Buffer.alloc(1024, 0x61));
    expect(await received).to.equal('reply\n');
    await tick();
    expect(closed, 'still lingering: the peer has not ended its side').to.equal(false);
    b.end();
    await writer.waitClosed();
    expect(a.destroyed).to.equal(true);
  });

  it('close() to a peer that never ends gives up after lingerTimeout and destroys the transport', async () => {
    const [a, b] = duplexPair({ highWaterMark: 16 * 1024, allowHalfOpen: true });
    ends.push(a, b);
    b.resume();
    const writer = new StreamWriter(a, { lingerTimeout: 30 });
    writer.write('x');
    writer.close();
    await writer.waitClosed();
    expect(a.destroyed).to.equal(true);
  });

  it('close() to a peer that never reads gives up after lingerTimeout, with no write left', async () => {
    const [a, b] = duplexPair({ highWaterMark: 1024, allowHalfOpen: true });
    ends.push(a, b);
    b.on('error', () => undefined);
    const writer = new StreamWriter(a, { lingerTimeout: 30 });
    writer.write(Buffer.alloc(256 * 1024));
    writer.close();
    await writer.waitClosed();
    expect(a.destroyed).to.equal(true);
    expect(a.listenerCount('data') + a.listenerCount('finish')).to.be.at.most(1);
  });

  it('writes strings and bytes, writeLines in order, and close ends the peer', async () => {
    const [writer, peer] = pair();
    const received = collect(peer);
    writer.write('one\n');
    writer.write(Buffer.from('two\n'));
    writer.writeLines(['three\n', new Uint8Array([0x34, 0x0a])]);
    writer.close();
    expect(writer.isClosing()).to.equal(true);
    await writer.waitClosed();
    expect(await received).to.equal('one\ntwo\nthree\n4\n');
  });

  it('gathers the small writes of one tick into one transport write, in order', async () => {
    const [writer, peer] = pair();
    const chunks: string[] = [];
    peer.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    for (let i = 0; i < 100; i++) writer.write(`${i}\n`);
    expect(writer.bufferedLength).to.equal(290);
    await tick();
    expect(chunks).to.have.length(1);
    expect(chunks[0]!.split('\n').slice(0, 3)).to.deep.equal(['0', '1', '2']);
    // A big write goes to the transport as is, after what was gathered before it.
    writer.write('before\n');
    const big = Buffer.alloc(20 * 1024, 0x7a);
    writer.write(big);
    await tick();
    expect(chunks.slice(1, 3)).to.deep.equal(['before\n', big.toString()]);
  });

  it('drain() resolves at once when the transport is not congested', async () => {
    const [writer] = pair();
    writer.write('small');
    const state = track(writer.drain());
    await Promise.resolve();
    await Promise.resolve();
    expect(state.settled).to.equal(true);
  });

  it('drain() waits while the peer does not read, for several callers, and resolves once it reads', async () => {
    const [writer, peer] = pair(1024);
    fill(writer);
    const first = writer.drain();
    const second = writer.drain();
    const states = [track(first), track(second)];
    await tick();
    await tick();
    expect(states.map((s) => s.settled)).to.deep.equal([false, false]);
    peer.resume();
    await Promise.all([first, second]);
  });

  it('drain() never hangs when the peer resets while waiting; later drains reject', async () => {
    const [writer, peer] = pair(1024);
    fill(writer);
    const pending = writer.drain();
    peer.destroy();
    // The in-memory pair completes the pending write before it resets, so this first drain may
    // resolve (over TCP it rejects: see connection.test.ts); it must settle either way.
    await pending.catch((error: unknown) => {
      expect(error).to.be.instanceOf(ConnectionClosedError);
    });
    await writer.waitClosed();
    const error = await rejection(writer.drain());
    expect(error).to.be.instanceOf(ConnectionClosedError);
    expect((error as Error).cause).to.have.property('code', 'ECONNRESET');
  });

  it('drain() rejects with signal.reason when aborted and removes its listener', async () => {
    const [writer, peer] = pair(1024);
    fill(writer);
    const controller = new AbortController();
    const pending = writer.drain({ signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort').length).to.equal(1);
    const reason = new Error('enough');
    controller.abort(reason);
    expect(await rejection(pending)).to.equal(reason);
    expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
    peer.resume();
    await writer.drain();
  });

  it('writing after close throws ConnectionClosedError synchronously', () => {
    const [writer] = pair();
    writer.close();
    expect(() => writer.write('late')).to.throw(
      ConnectionClosedError,
      'Cannot write: the writer is closed',
    );
  });

  it('a write after the peer reset is dropped, as asyncio does; drain() then rejects', async () => {
    const [writer, peer] = pair();
    peer.destroy();
    await writer.waitClosed();
    expect(() => writer.write('late')).not.to.throw();
    expect(writer.bufferedLength).to.equal(0);
    expect(writer.isClosing()).to.equal(true);
    const error = await writer.drain().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConnectionClosedError);
  });

  it('drain() right after close() rejects with ConnectionClosedError (asyncio raises)', async () => {
    const [writer] = pair();
    writer.write('x');
    writer.close();
    const error = await writer.drain().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConnectionClosedError);
    expect((error as ConnectionClosedError).code).to.equal('ERR_DB_CONNECTION_CLOSED');
  });

  it('rejects data that is neither a string nor bytes', () => {
    const [writer] = pair();
    expect(() => writer.write(42 as unknown as string)).to.throw(
      TypeError,
      'Expected `data` to be a string or a Uint8Array, got `42` (number)',
    );
  });

  it('writeEof half-closes: the peer sees end-of-stream, then writes throw', async () => {
    const [writer, peer] = pair();
    expect(writer.canWriteEof()).to.equal(true);
    const received = collect(peer);
    writer.write('last');
    writer.writeEof();
    expect(await received).to.equal('last');
    expect(() => writer.write('more')).to.throw(ConnectionClosedError);
    expect(writer.isClosing()).to.equal(false);
  });

  it('abort() destroys the transport at once', async () => {
    const [writer] = pair();
    writer.abort();
    await writer.waitClosed();
    expect(writer.transport.destroyed).to.equal(true);
  });

  it('Symbol.asyncDispose closes and waits until closed', async () => {
    const [writer, peer] = pair();
    const received = collect(peer);
    {
      await using w = writer;
      w.write('bye');
    }
    expect(writer.transport.destroyed).to.equal(true);
    expect(await received).to.equal('bye');
  });

  it('getExtraInfo returns the transport as socket and undefined for unknown addresses', () => {
    const [writer] = pair();
    expect(writer.getExtraInfo('socket')).to.equal(writer.transport);
    expect(writer.getExtraInfo('peername')).to.equal(undefined);
    const custom = new StreamWriter(writer.transport, {
      extraInfo: { peername: { path: '/tmp/x' } },
    });
    expect(custom.getExtraInfo('peername')).to.deep.equal({ path: '/tmp/x' });
  });

  it('a wired writer leaves close (and, if asked, error) to its wiring, which tells it', async () => {
    for (const errorsToo of [false, true]) {
      const [a, b] = duplexPair({ allowHalfOpen: true });
      ends.push(a, b);
      const writer = wiredWriter.create(a, undefined, errorsToo);
      expect(a.listenerCount('close')).to.equal(0);
      expect(a.listenerCount('error')).to.equal(errorsToo ? 0 : 1);
      expect(a.listenerCount('drain')).to.equal(1);
      // The afterEach hook resets the pair: nobody is under test then.
      a.on('error', () => undefined);
      b.on('error', () => undefined);
      const closed = writer.waitClosed();
      if (errorsToo) wiredWriter.error(writer, new Error('lost'));
      wiredWriter.closed(writer);
      await closed;
      const error = await rejection(writer.drain());
      expect(error).to.be.instanceOf(ConnectionClosedError);
      expect((error as Error).cause === undefined).to.equal(!errorsToo);
    }
  });

  it('adds one listener per event to its transport', async () => {
    const [writer, peer] = pair();
    peer.resume();
    const stream = writer.transport;
    for (const event of ['drain', 'finish', 'close']) {
      expect(stream.listenerCount(event), event).to.equal(1);
    }
    writer.close();
    await once(stream, 'close');
  });
});
