import { expect } from 'chai';
import { getEventListeners } from 'node:events';
import { Dispatcher } from '../../src/legacy/dispatcher.js';
import { SocketMap } from '../../src/legacy/socket-map.js';
import { LegacySession } from '../../src/adapter/_legacy-session.js';
import { duplexPair } from '../../src/adapter/_duplex-pair.js';

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

describe('LegacySession', () => {
  it('settles once the dispatcher has closed, and leaves no abort listener', async () => {
    const { dispatcher, controller } = setup();
    const session = new LegacySession(dispatcher, dispatcher.socket!, controller.signal);
    session.watchSignal();
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
    const session = new LegacySession(dispatcher, dispatcher.socket!, controller.signal);
    session.watchSignal();
    controller.abort(new Error('connection closed'));
    expect(dispatcher.closed).to.equal(true);
    await session.done;
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('closes the dispatcher at once when the signal was already aborted', async () => {
    const { dispatcher, controller } = setup();
    controller.abort(new Error('gone'));
    const session = new LegacySession(dispatcher, dispatcher.socket!, controller.signal);
    session.watchSignal();
    expect(dispatcher.closed).to.equal(true);
    await session.done;
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('waits for the writes the dispatcher made before it closed', async () => {
    const [socket, peer] = duplexPair({ highWaterMark: 16 });
    const dispatcher = new Dispatcher({ socket, map: new SocketMap() });
    const controller = new AbortController();
    const session = new LegacySession(dispatcher, socket, controller.signal);
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
});
