import { expect } from 'chai';
import type net from 'node:net';
import {
  MixedConnection,
  socketClosedBy,
  type MixedHost,
} from '../../src/adapter/_mixed-connection.js';
import { duplexPair } from '../../src/adapter/_duplex-pair.js';

function setup(tracked = false): {
  connection: MixedConnection;
  calls: string[];
  socket: net.Socket;
} {
  const calls: string[] = [];
  const host: MixedHost = {
    serve: () => {
      calls.push('serve');
      return Promise.resolve();
    },
    closeUnserved: () => calls.push('closeUnserved'),
    report: (error) => calls.push(`report ${String(error)}`),
    refused: () => calls.push('refused'),
    closed: (connection) => calls.push(`closed ${connection.id}`),
    routed: (connection, decision) =>
      calls.push(`routed ${connection.id} ${JSON.stringify(decision)}`),
    tracksClose: () => tracked,
  };
  const [end, peer] = duplexPair();
  peer.on('error', () => {}); // the reset a destroyed end sends its peer
  const socket = end as unknown as net.Socket;
  const info = { id: 3, remoteAddress: { host: '127.0.0.1', port: 9 } };
  return { connection: new MixedConnection(info, socket, host), calls, socket };
}

describe('MixedConnection', () => {
  it('is the core connection and the runner run, calling back its host', async () => {
    const { connection, calls } = setup();
    expect(connection.id).to.equal(3);
    expect(connection.remoteAddress).to.deep.equal({ host: '127.0.0.1', port: 9 });
    await connection.start();
    connection.report('boom');
    connection.refused();
    connection.socketClosed();
    expect(calls).to.deep.equal(['serve', 'report boom', 'refused', 'closed 3']);
  });

  it('is the route target: routed() ends its pending route and tells its host', () => {
    const { connection, calls } = setup();
    connection.routing = { cancel: () => calls.push('cancelled') };
    connection.routed({ implementation: 'modern' });
    expect(connection.routing).to.equal(undefined);
    expect(calls).to.deep.equal(['routed 3 {"implementation":"modern"}']);
    // What rules and reports are told: a fresh object each time, never the connection.
    expect(connection.info).to.deep.equal({ id: 3, remoteAddress: { host: '127.0.0.1', port: 9 } });
    expect(connection.info).to.not.equal(connection.info);
  });

  it("watches its socket's close until told to stop (then its primary tells it)", () => {
    const { connection, calls, socket } = setup();
    connection.watchClose();
    connection.watchClose();
    expect(socket.listenerCount('close')).to.equal(1);
    connection.unwatchClose();
    expect(socket.listenerCount('close')).to.equal(0);
    connection.watchClose();
    socket.emit('close');
    expect(calls).to.deep.equal(['closed 3']);
  });

  it("watches a socket the core tracks with no listener: the core's close tells it, until unwatched", () => {
    const { connection, calls, socket } = setup(true);
    connection.watchClose();
    expect(socket.listenerCount('close')).to.equal(0);
    socketClosedBy(socket);
    expect(calls).to.deep.equal(['closed 3']);
    connection.unwatchClose();
    socketClosedBy(socket);
    expect(calls).to.deep.equal(['closed 3']);
  });

  it('closes through its host only while nothing serves it', () => {
    const { connection, calls } = setup();
    connection.close();
    expect(calls).to.deep.equal(['closeUnserved']);
    connection.primary = { stop: () => {} };
    connection.close();
    expect(calls).to.deep.equal(['closeUnserved']);
    // A primary its runner settles (a modern handler on the socket) is closed by it.
    connection.primary = { stop: () => {}, done: () => calls.push('done') };
    connection.close();
    expect(calls).to.deep.equal(['closeUnserved', 'done']);
  });

  it('abort() cancels routing, stops the primary, aborts its signal and destroys the socket', () => {
    const { connection, socket } = setup();
    const stopped: unknown[] = [];
    let cancelled = 0;
    connection.routing = { cancel: () => cancelled++ };
    connection.primary = { stop: (reason) => stopped.push(reason) };
    const reason = new Error('shutdown');
    connection.abort(reason);
    expect(cancelled).to.equal(1);
    expect(stopped).to.deep.equal([reason]);
    expect(connection.lazy.aborted).to.equal(true);
    expect(connection.controller.signal.reason).to.equal(reason);
    expect(socket.destroyed).to.equal(true);
  });

  it('fail() is an abort (an idle timeout)', () => {
    const { connection, socket } = setup();
    connection.fail(new Error('idle'));
    expect(connection.lazy.aborted).to.equal(true);
    expect(socket.destroyed).to.equal(true);
  });
});
