import { expect } from 'chai';
import { getEventListeners, once } from 'node:events';
import { loopbackServer } from '../helpers/peers.js';
import { Dispatcher } from '../../src/legacy/dispatcher.js';
import { SocketMap } from '../../src/legacy/socket-map.js';
import { LegacySession } from '../../src/adapter/_legacy-session.js';
import { duplexPair } from '../../src/adapter/_duplex-pair.js';
import type { ConnectionContext } from '../../src/modern/server.js';
import { StreamReader, StreamWriter, openConnection } from '../../src/modern/index.js';
import { StreamDuplex } from '../../src/adapter/_stream-duplex.js';

function setup(): {
  dispatcher: Dispatcher;
  controller: AbortController;
  peer: import('node:stream').Duplex;
} {
  const [socket, peer] = duplexPair();
  peer.resume();
  const dispatcher = new Dispatcher({ socket, map: new SocketMap() });
  return { dispatcher, controller: new AbortController(), peer };
}

function contextOf(controller: AbortController): ConnectionContext {
  return { id: 1, remoteAddress: { host: '127.0.0.1', port: 1 }, signal: controller.signal };
}

describe('LegacySession', () => {
  it('settles once the dispatcher has closed, and leaves no abort listener', async () => {
    const { dispatcher, controller } = setup();
    const session = new LegacySession(dispatcher, dispatcher.socket!);
    session.watchSignal(contextOf(controller));
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(1);
    let settled = false;
    void session.done.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).to.equal(false);
    dispatcher.close();
    await session.done;
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('closes the dispatcher when the signal aborts', async () => {
    const { dispatcher, controller } = setup();
    const session = new LegacySession(dispatcher, dispatcher.socket!);
    session.watchSignal(contextOf(controller));
    controller.abort(new Error('connection closed'));
    expect(dispatcher.closed).to.equal(true);
    await session.done;
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('closes the dispatcher at once when the signal was already aborted', async () => {
    const { dispatcher, controller } = setup();
    controller.abort(new Error('gone'));
    const session = new LegacySession(dispatcher, dispatcher.socket!);
    session.watchSignal(contextOf(controller));
    expect(dispatcher.closed).to.equal(true);
    await session.done;
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('waits for the writes the dispatcher made before it closed', async () => {
    const [socket, peer] = duplexPair({ highWaterMark: 16 });
    const dispatcher = new Dispatcher({ socket, map: new SocketMap() });
    const session = new LegacySession(dispatcher, socket);
    socket.write(Buffer.alloc(64, 1)); // more than the peer's buffer: not finished until read
    let settled = false;
    void session.done.then(() => (settled = true));
    dispatcher.close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).to.equal(false);
    peer.resume();
    await session.done;
    expect(settled).to.equal(true);
  });

  it('over a StreamDuplex watching a socket, closes the dispatcher when the socket closes, never asking for the signal', async () => {
    const { server, port, accepted } = await loopbackServer();
    const { reader, writer } = await openConnection({ host: '127.0.0.1', port });
    const peer = await accepted;
    const socket = new StreamDuplex(reader, writer, { host: '127.0.0.1', port }, 65536);
    const dispatcher = new Dispatcher({ socket, map: new SocketMap() });
    let asked = 0;
    const context: ConnectionContext = {
      id: 1,
      remoteAddress: { host: '127.0.0.1', port },
      get signal(): AbortSignal {
        asked++;
        return new AbortController().signal;
      },
    };
    const session = new LegacySession(dispatcher, socket);
    session.watchSignal(context);
    expect(dispatcher.closed).to.equal(false);
    writer.transport.destroy();
    await once(writer.transport, 'close');
    expect(dispatcher.closed).to.equal(true);
    await session.done;
    expect(asked).to.equal(0);
    peer.destroy();
    server.close();
  });

  describe('over a StreamDuplex', () => {
    function overDuplex(): {
      dispatcher: Dispatcher;
      socket: StreamDuplex;
      reader: StreamReader;
      peer: import('node:stream').Duplex;
    } {
      const [end, peer] = duplexPair({ allowHalfOpen: true });
      const reader = new StreamReader();
      end.on('data', (chunk: Buffer) => reader.feedData(chunk));
      end.on('end', () => reader.feedEof());
      const socket = new StreamDuplex(
        reader,
        new StreamWriter(end),
        { host: '127.0.0.1', port: 1 },
        16,
      );
      const dispatcher = new Dispatcher({ socket, map: new SocketMap() });
      return { dispatcher, socket, reader, peer };
    }

    it('adds no listener to the dispatcher; settles once it closed and its writes were handed on', async () => {
      const { dispatcher, socket, peer } = overDuplex();
      const listeners = dispatcher.listenerCount('close');
      const session = new LegacySession(dispatcher, socket);
      expect(dispatcher.listenerCount('close')).to.equal(listeners);
      let settled = false;
      void session.done.then(() => (settled = true));
      // More than the Duplex's high-water mark: handed on only as the peer reads.
      socket.write(Buffer.alloc(64 * 1024, 2));
      dispatcher.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).to.equal(false);
      const received = new Promise<number>((resolve) => {
        let bytes = 0;
        peer.on('data', (chunk: Buffer) => (bytes += chunk.length));
        peer.on('end', () => resolve(bytes));
      });
      await session.done;
      expect(socket.done).to.equal(true);
      expect(await received).to.equal(64 * 1024);
    });

    it('a Duplex done first (a reset) settles only once the dispatcher has closed', async () => {
      const { dispatcher, socket, peer } = overDuplex();
      const session = new LegacySession(dispatcher, socket);
      let settled = false;
      void session.done.then(() => (settled = true));
      socket.on('error', () => {});
      peer.on('error', () => {});
      socket.destroy(new Error('reset'));
      await new Promise((resolve) => socket.once('close', resolve));
      expect(peer.destroyed).to.equal(true);
      await new Promise((resolve) => setImmediate(resolve));
      expect(socket.done).to.equal(true);
      expect(settled).to.equal(false);
      expect(dispatcher.listenerCount('close')).to.equal(1);
      dispatcher.close();
      await session.done;
      expect(dispatcher.listenerCount('close')).to.equal(0);
    });

    it('a session made after the dispatcher closed and its Duplex is done settles at once', async () => {
      const { dispatcher, socket } = overDuplex();
      dispatcher.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(socket.done).to.equal(true);
      const session = new LegacySession(dispatcher, socket);
      await session.done;
      expect(dispatcher.listenerCount('close')).to.equal(0);
    });
  });
});
