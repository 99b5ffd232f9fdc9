import { getEventListeners } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import { ConnectionClosedError } from '../../src/modern/index.js';
import { ServedConnection, type ServedHost } from '../../src/modern/_served.js';
import { rejection, tick } from '../helpers/async.js';
import { duplexPair } from '../helpers/duplex-pair.js';

/** A host that records what its connections tell it. */
function recordingHost(): ServedHost & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    handler: () => undefined,
    report: (error) => events.push(`report ${String(error)}`),
    refused: () => events.push('refused'),
    closed: (connection) => events.push(`closed ${connection.id}`),
  };
}

/** Counts the AbortControllers created while `work` runs. */
function countControllers<T>(work: () => T): { result: T; created: number } {
  const Original = globalThis.AbortController;
  let created = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      created++;
    }
  };
  try {
    return { result: work(), created };
  } finally {
    globalThis.AbortController = Original;
  }
}

describe('ServedConnection (one object per connection of startServer)', () => {
  let ends: Duplex[] = [];
  afterEach(() => {
    for (const end of ends) end.destroy();
    ends = [];
  });
  function served(host: ServedHost = recordingHost()): [ServedConnection, Duplex] {
    const [local, peer] = duplexPair({ allowHalfOpen: true });
    peer.on('error', () => undefined);
    ends.push(local, peer);
    const socket = local as unknown as net.Socket;
    return [new ServedConnection(host, socket, 7, { path: '/x' }, undefined, {}, false), peer];
  }

  it('creates no AbortController until someone asks for the signal', () => {
    const { result: connection, created } = countControllers(() => served()[0]);
    expect(created).to.equal(0);
    expect(connection.context.id).to.equal(7);
    expect(connection.context.remoteAddress).to.deep.equal({ path: '/x' });
    const { result: signal, created: later } = countControllers(() => connection.context.signal);
    expect(later).to.equal(1);
    expect(signal.aborted).to.equal(false);
    expect(connection.context.signal).to.equal(signal);
    expect(connection.controller.signal).to.equal(signal);
  });

  it('an abort before the signal exists is its reason once it is asked for; the first wins', () => {
    const [connection] = served();
    const first = new Error('first');
    connection.abortSignal(first);
    connection.abortSignal(new Error('second'));
    expect(connection.context.signal.aborted).to.equal(true);
    expect(connection.context.signal.reason).to.equal(first);
  });

  it('reads passing context.signal add no abort listener, and its abort cancels the waiting read', async () => {
    const [connection, peer] = served();
    const { reader } = connection;
    const signal = connection.context.signal;
    expect(getEventListeners(signal, 'abort').length).to.equal(1);
    for (const line of ['a\n', 'b\n']) {
      const pending = reader.readLine({ signal });
      expect(getEventListeners(signal, 'abort').length).to.equal(1);
      peer.write(line);
      expect((await pending).toString()).to.equal(line);
    }
    const waiting = reader.readLine({ signal });
    const reason = new Error('stop');
    connection.abortSignal(reason);
    expect(await rejection(waiting)).to.equal(reason);
    expect(getEventListeners(signal, 'abort').length).to.equal(0);
  });

  it('a readLine passing context.signal takes a buffered line at once; after the abort it rejects and keeps it', async () => {
    const [connection, peer] = served();
    const { reader } = connection;
    const signal = connection.context.signal;
    peer.write('one\ntwo\n');
    await tick();
    expect(reader.bufferedLength).to.equal(8);
    let settled = false;
    const first = reader.readLine({ signal }).then((line) => ((settled = true), line));
    await Promise.resolve();
    // Settled within a microtask: it did not wait for more data.
    expect(settled).to.equal(true);
    expect((await first).toString()).to.equal('one\n');
    const reason = new Error('stop');
    connection.abortSignal(reason);
    expect(await rejection(reader.readLine({ signal }))).to.equal(reason);
    expect(reader.bufferedLength).to.equal(4);
    expect((await reader.readLine()).toString()).to.equal('two\n');
  });

  it('a read or drain passing context.signal after its abort rejects at once with the reason', async () => {
    const [connection] = served();
    const { signal } = connection.context;
    const reason = new Error('gone');
    connection.abortSignal(reason);
    expect(await rejection(connection.reader.readLine({ signal }))).to.equal(reason);
    expect(await rejection(connection.writer.drain({ signal }))).to.equal(reason);
    expect(getEventListeners(signal, 'abort').length).to.equal(0);
  });

  it('listens to its socket with one listener per event, the writer included', () => {
    const [connection] = served();
    const socket = connection.socket;
    for (const event of ['data', 'end', 'error', 'close', 'drain', 'finish']) {
      expect(socket.listenerCount(event), event).to.equal(1);
    }
  });

  it('a socket error reaches the writer too: a later drain() rejects with it as the cause', async () => {
    const [connection] = served();
    const boom = new Error('boom');
    connection.socket.destroy(boom);
    await tick();
    const error = await rejection(connection.writer.drain());
    expect(error).to.be.instanceOf(ConnectionClosedError);
    expect((error as Error).cause).to.equal(boom);
  });

  it("the socket's close ends the reader, aborts the signal with ConnectionClosedError, then tells the host", async () => {
    const host = recordingHost();
    const [connection] = served(host);
    const pending = connection.reader.readLine();
    connection.socket.destroy();
    await tick();
    expect((await pending).length).to.equal(0);
    expect(connection.context.signal.reason).to.be.instanceOf(ConnectionClosedError);
    expect(host.events).to.deep.equal(['closed 7']);
  });
});
