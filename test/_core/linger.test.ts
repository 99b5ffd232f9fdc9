import { expect } from 'chai';
import net from 'node:net';
import { DEFAULT_LINGER_TIMEOUT, closeGracefully, isLingering } from '../../src/_core/linger.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';

const MiB = 1024 * 1024;

/** A loopback connection: [client, the server's socket], and the server to close. */
async function connection(): Promise<{
  client: net.Socket;
  socket: net.Socket;
  server: net.Server;
}> {
  let socket: net.Socket | undefined;
  const server = net.createServer({ allowHalfOpen: true }, (s) => (socket = s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  while (socket === undefined) await new Promise((resolve) => setImmediate(resolve));
  return { client, socket, server };
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

describe('closeGracefully (_core/linger)', () => {
  it('sends everything written before it to a peer whose input was never read', async () => {
    const { client, socket, server } = await connection();
    const before = activeResources();
    client.write(Buffer.alloc(MiB, 'u'));
    // The server's socket has unread input: a plain close would answer it with a reset.
    while (socket.readableLength === 0) await new Promise((resolve) => setImmediate(resolve));
    socket.pause();
    const reply = Buffer.alloc(16 * MiB, 'r');
    socket.write(reply);
    closeGracefully(socket, { lingerTimeout: 2_000 });
    expect(isLingering(socket)).to.equal(true);
    let received = 0;
    let error: unknown;
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    client.on('error', (reason) => (error = reason));
    await new Promise((resolve) => client.once('end', resolve));
    expect(error).to.equal(undefined);
    expect(received).to.equal(reply.length);
    client.end();
    await closed(socket);
    expect(socket.listenerCount('error')).to.equal(0);
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
    await expectNoLeaks(before);
  });

  it('destroys the socket of a peer that never reads after lingerTimeout without progress', async () => {
    const { client, socket, server } = await connection();
    client.pause();
    socket.write(Buffer.alloc(32 * MiB, 'n'));
    const started = performance.now();
    closeGracefully(socket, { lingerTimeout: 150 });
    await closed(socket);
    expect(performance.now() - started).to.be.at.least(140);
    expect(socket.destroyed).to.equal(true);
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('destroys a socket whose peer keeps sending beyond maxLingerBytes', async () => {
    const { client, socket, server } = await connection();
    client.on('error', () => {});
    closeGracefully(socket, { lingerTimeout: 10_000, maxLingerBytes: 64 * 1024 });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const writing = setInterval(() => client.write(chunk), 1);
    await closed(socket);
    clearInterval(writing);
    expect(socket.destroyed).to.equal(true);
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('is idempotent, leaves a destroyed socket alone, and ends an in-memory pair cleanly', async () => {
    const [peer, end] = duplexPair({ allowHalfOpen: true });
    const received: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => received.push(chunk));
    end.write('last words');
    closeGracefully(end);
    closeGracefully(end);
    await new Promise((resolve) => peer.once('end', resolve));
    expect(Buffer.concat(received).toString()).to.equal('last words');
    peer.end();
    await new Promise((resolve) => end.once('close', resolve));
    expect(end.listenerCount('error')).to.equal(0);
    expect(end.listenerCount('data')).to.equal(0);
    const [other, gone] = duplexPair();
    other.on('error', () => {});
    gone.destroy();
    closeGracefully(gone);
    expect(isLingering(gone)).to.equal(false);
    expect(DEFAULT_LINGER_TIMEOUT).to.equal(5_000);
  });

  it('sends output still queued elsewhere (`more`) first, as the socket drains, to a slow reader', async () => {
    const { client, socket, server } = await connection();
    const queued = Array.from({ length: 64 }, () => Buffer.alloc(256 * 1024, 0x71)); // 16 MiB
    let received = 0;
    client.pause();
    client.on('data', (chunk: Buffer) => {
      received += chunk.length;
      client.pause();
      setTimeout(() => client.resume(), 1);
    });
    client.on('end', () => client.end());
    client.write(Buffer.alloc(512 * 1024)); // input the server never reads
    await new Promise((resolve) => setTimeout(resolve, 20));
    closeGracefully(socket, { lingerTimeout: 2_000, more: () => queued.shift() ?? null });
    setTimeout(() => client.resume(), 100);
    await closed(socket);
    await closed(client);
    expect(received).to.equal(64 * 256 * 1024);
    server.close();
  });

  it('a `more` that throws ends the output there; a peer that never reads is cut off', async () => {
    const { client, socket, server } = await connection();
    client.pause();
    client.on('error', () => undefined);
    let calls = 0;
    closeGracefully(socket, {
      lingerTimeout: 50,
      more: () => {
        calls++;
        if (calls > 40) throw new Error('producer failed');
        return Buffer.alloc(1024 * 1024);
      },
    });
    await closed(socket);
    expect(socket.destroyed).to.equal(true);
    expect(calls).to.be.at.least(1);
    client.destroy();
    server.close();
  });
});
