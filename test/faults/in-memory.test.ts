// The same faults over the in-memory duplex pair (no TCP): a peer reset in the middle of a
// message and a half-close, for both layers; no listener is left on the transport afterwards.
import { expect } from 'chai';
import type { Duplex } from 'node:stream';
import { AsyncChat, SocketMap, loop } from '../../src/legacy/index.js';
import { ConnectionClosedError, fromDuplex } from '../../src/modern/index.js';
import { until } from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';

const EVENTS = ['data', 'readable', 'end', 'drain', 'finish', 'error', 'close'] as const;

function listenerCounts(stream: Duplex): Record<string, number> {
  return Object.fromEntries(EVENTS.map((event) => [event, stream.listenerCount(event)]));
}

const NONE = Object.fromEntries(EVENTS.map((event) => [event, 0]));

class LineEcho extends AsyncChat {
  parts: Buffer[] = [];
  closes = 0;
  errors: unknown[] = [];
  override collectIncomingData(data: Buffer): void {
    this.parts.push(data);
  }
  override foundTerminator(): void {
    this.push(`${Buffer.concat(this.parts.splice(0)).toString()}\n`);
  }
  override handleClose(): void {
    this.closes++;
    this.close();
  }
  override handleError(error: unknown): void {
    this.errors.push(error);
    super.handleError(error);
  }
  override logInfo(): void {}
}

describe('Faults over the in-memory duplex pair', () => {
  it('legacy: a peer reset mid-message is one handleClose(), no error, and no listener is left', async () => {
    const map = new SocketMap();
    const [peer, transport] = duplexPair();
    const chat = new LineEcho({ socket: transport, map });
    chat.setTerminator('\n');
    const done = loop({ map, timeout: Infinity });
    peer.on('error', () => {});
    const read = new Promise<void>((resolve) => chat.once('read', () => resolve()));
    peer.write('half a mess');
    // The chat has read the half message (it holds it until its terminator).
    await read;
    peer.destroy(new Error('peer crashed'));
    await done;
    // Bytes received before the reset are delivered before the close.
    expect(Buffer.concat(chat.parts).toString()).to.equal('half a mess');
    expect(chat.closes).to.equal(1);
    expect(chat.errors).to.deep.equal([]);
    expect(map.size).to.equal(0);
    await until(() => transport.closed);
    await until(() => transport.listenerCount('close') === 0);
    expect(listenerCounts(transport)).to.deep.equal(NONE);
  });

  it('legacy: half-close, the peer ends its side and reads every reply', async () => {
    const map = new SocketMap();
    const [peer, transport] = duplexPair({ allowHalfOpen: true });
    const chat = new LineEcho({ socket: transport, map });
    chat.setTerminator('\n');
    const done = loop({ map, timeout: Infinity });
    const chunks: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => peer.once('end', resolve));
    peer.end('a\nb\n');
    await ended;
    await done;
    expect(Buffer.concat(chunks).toString()).to.equal('a\nb\n');
    expect(chat.closes).to.equal(1);
    await until(() => transport.listenerCount('close') === 0);
    expect(listenerCounts(transport)).to.deep.equal(NONE);
  });

  it('modern: a peer reset mid-line rejects the read with ConnectionClosedError (cause ECONNRESET)', async () => {
    const [peer, transport] = duplexPair();
    const { reader, writer } = fromDuplex(transport);
    peer.on('error', () => {});
    const line = reader.readLine();
    peer.write('half a line');
    await until(() => reader.bufferedLength > 0);
    peer.destroy(new Error('peer crashed'));
    let caught: unknown;
    try {
      await line;
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(ConnectionClosedError);
    expect(((caught as Error).cause as NodeJS.ErrnoException).code).to.equal('ECONNRESET');
    // The bytes that did arrive are not handed out as a line; a late write to the gone
    // connection is dropped (never thrown into the process) and drain() rejects.
    await writer.waitClosed();
    expect(() => writer.write('late')).not.to.throw();
    let drainError: unknown;
    await writer.drain().catch((error: unknown) => (drainError = error));
    expect(drainError).to.be.instanceOf(ConnectionClosedError);
  });

  it('modern: half-close, writeEof() then the whole reply is read', async () => {
    const [client, server] = duplexPair({ allowHalfOpen: true });
    const near = fromDuplex(client);
    const far = fromDuplex(server);
    const serve = (async () => {
      const request = await far.reader.read();
      far.writer.write(`${request.length} bytes: ${request.toString().toUpperCase()}`);
      far.writer.close();
      await far.writer.waitClosed();
    })();
    near.writer.write('hello');
    near.writer.writeEof();
    expect((await near.reader.read()).toString()).to.equal('5 bytes: HELLO');
    expect(near.reader.atEof()).to.equal(true);
    await serve;
    near.writer.close();
    await near.writer.waitClosed();
  });
});
