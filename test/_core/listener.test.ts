import net from 'node:net';
import { expect } from 'chai';
import { AbortError } from '../../src/errors.js';
import { Listener, type ListenerOptions } from '../../src/_core/listener.js';
import { within } from '../helpers/peers.js';

function listener(overrides: Partial<ListenerOptions> = {}): {
  listener: Listener;
  accepted: net.Socket[];
} {
  const accepted: net.Socket[] = [];
  const l = new Listener({
    hosts: ['127.0.0.1'],
    port: 0,
    path: undefined,
    backlog: undefined,
    tls: undefined,
    handshakeTimeout: 1_000,
    onConnection: (socket) => {
      accepted.push(socket);
      socket.resume();
    },
    onError: () => undefined,
    ...overrides,
  });
  return { listener: l, accepted };
}

function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('Listener (the accept path of every server)', () => {
  it('listens on several hosts with one port and hands each connection over, half-open', async () => {
    const { listener: l, accepted } = listener({ hosts: ['127.0.0.1', '::1'] });
    await l.start();
    const addresses = l.addresses();
    expect(addresses).to.have.length(2);
    const port = (addresses[0] as { port: number }).port;
    expect((addresses[1] as { port: number }).port).to.equal(port);
    const a = await connect(port);
    const b = await connect(port, '::1');
    expect(await within(1_000, () => accepted.length === 2)).to.equal(true);
    expect(accepted.every((socket) => socket.allowHalfOpen)).to.equal(true);
    expect(l.socketCount).to.equal(2);
    l.close();
    await l.closed();
    expect(l.listening).to.equal(false);
    l.destroyAll();
    a.destroy();
    b.destroy();
    expect(await within(1_000, () => l.socketCount === 0)).to.equal(true);
  });

  it('close() during start(): start() rejects with AbortError and nothing listens', async () => {
    const { listener: l } = listener({ hosts: ['127.0.0.1', '::1'] });
    const starting = l.start();
    l.close();
    const error = await starting.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(AbortError);
    await l.closed();
    expect(l.addresses()).to.deep.equal([]);
  });

  it('a listen error rejects start() and leaves it closed', async () => {
    const { listener: first } = listener();
    await first.start();
    const port = (first.addresses()[0] as { port: number }).port;
    const { listener: second } = listener({ port });
    const error = (await second.start().then(
      () => null,
      (e: unknown) => e,
    )) as NodeJS.ErrnoException;
    expect(error.code).to.equal('EADDRINUSE');
    await second.closed();
    first.close();
    await first.closed();
  });

  it('refuses sockets beyond maxConnections before any handler sees them', async () => {
    const { listener: l, accepted } = listener({ maxConnections: 1 });
    await l.start();
    const port = (l.addresses()[0] as { port: number }).port;
    const a = await connect(port);
    await within(1_000, () => accepted.length === 1);
    const b = await connect(port);
    const closed = await new Promise<boolean>((resolve) => {
      b.on('error', () => undefined);
      b.resume();
      b.once('close', () => resolve(true));
    });
    expect(closed).to.equal(true);
    expect(accepted).to.have.length(1);
    a.destroy();
    l.close();
    l.destroyAll();
    await l.closed();
  });
});
