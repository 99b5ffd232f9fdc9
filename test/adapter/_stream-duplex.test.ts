import { expect } from 'chai';
import { once } from 'node:events';
import net from 'node:net';
import { loopbackServer } from '../helpers/peers.js';
import { StreamDuplex } from '../../src/adapter/_stream-duplex.js';
import { openConnection } from '../../src/modern/index.js';

async function connected(): Promise<{
  duplex: StreamDuplex;
  socket: net.Socket;
  peer: net.Socket;
  reader: import('../../src/modern/index.js').StreamReader;
  writer: import('../../src/modern/index.js').StreamWriter;
  server: net.Server;
}> {
  const { server, port, accepted } = await loopbackServer();
  const { reader, writer } = await openConnection({ host: '127.0.0.1', port });
  const peer = await accepted;
  const socket = writer.transport as net.Socket;
  const duplex = new StreamDuplex(reader, writer, { host: '127.0.0.1', port }, 65536);
  return { duplex, socket, peer, reader, writer, server };
}

async function teardown(parts: { duplex: StreamDuplex; peer: net.Socket; server: net.Server }) {
  parts.duplex.destroy();
  parts.peer.destroy();
  parts.server.close();
  await once(parts.server, 'close');
}

describe('StreamDuplex over a socket', () => {
  it('keeps no read pending on the reader while the connection idles', async () => {
    const parts = await connected();
    const { duplex, reader } = parts;
    duplex.on('readable', () => {}); // the dispatcher's paused-mode reading
    await new Promise((resolve) => setImmediate(resolve));
    // A read of its own pending, the reader would refuse this one at once.
    const controller = new AbortController();
    const mine = reader.read(1, { signal: controller.signal });
    const reason = new Error('cancelled');
    controller.abort(reason);
    let rejection: unknown;
    await mine.catch((error: unknown) => (rejection = error));
    expect(rejection).to.equal(reason);
    await teardown(parts);
  });

  it('reads what arrives after an idle wait, and the end of the stream', async () => {
    const parts = await connected();
    const { duplex, peer } = parts;
    const chunks: Buffer[] = [];
    duplex.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => setTimeout(resolve, 20));
    peer.end('late bytes');
    await once(duplex, 'end');
    expect(Buffer.concat(chunks).toString()).to.equal('late bytes');
    await teardown(parts);
  });

  it('ends its readable side when its own end() closes the writer while idle', async () => {
    const parts = await connected();
    const { duplex, peer } = parts;
    peer.resume();
    duplex.resume();
    await new Promise((resolve) => setImmediate(resolve));
    duplex.end();
    await once(duplex, 'end');
    await teardown(parts);
  });

  it('watches the socket through its wire: no listener of its own on the socket, before or after destroy()', async () => {
    const parts = await connected();
    const { duplex, socket } = parts;
    // Only the wire listens to the socket's data.
    expect(socket.listenerCount('data')).to.equal(1);
    const counts = (): number[] =>
      ['data', 'end', 'close'].map((name) => socket.listenerCount(name));
    const withDuplex = counts();
    duplex.on('readable', () => {});
    await new Promise((resolve) => setImmediate(resolve));
    duplex.destroy();
    await once(duplex, 'close');
    expect(counts()).to.deep.equal(withDuplex);
    await teardown(parts);
  });

  it('tells its close observer once when the watched socket closes', async () => {
    const parts = await connected();
    const { duplex } = parts;
    expect(duplex.watchesTransport).to.equal(true);
    let told = 0;
    duplex.observeClose({ transportClosed: () => told++ });
    parts.socket.destroy();
    await once(parts.socket, 'close');
    expect(told).to.equal(1);
    await teardown(parts);
  });

  it('a second StreamDuplex over the same socket is told too, and removes only its own listeners', async () => {
    const parts = await connected();
    const { duplex, socket, reader, writer } = parts;
    const counts = (): number[] =>
      ['data', 'end', 'close'].map((name) => socket.listenerCount(name));
    const withOne = counts();
    const second = new StreamDuplex(reader, writer, { host: '127.0.0.1', port: 1 }, 65536);
    expect(counts()).to.deep.equal(withOne.map((count) => count + 1));
    let told = 0;
    second.observeClose({ transportClosed: () => told++ });
    // The first one's end closes the writer: the socket closes once the peer has answered.
    duplex.destroy();
    await once(duplex, 'close');
    expect(told).to.equal(1);
    expect(counts()).to.deep.equal(withOne.map((count) => count + 1));
    second.destroy();
    await once(second, 'close');
    expect(counts()).to.deep.equal(withOne);
    await teardown(parts);
  });
});
