import net from 'node:net';
import { expect } from 'chai';
import { fdCount, halfHandshake, loopbackServer, neverReads, slowReader, within } from './peers.js';

describe('test helpers: peers', () => {
  let server: net.Server;
  let port: number;
  beforeEach(async () => {
    server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.resume();
      socket.end(Buffer.alloc(100_000, 0x61));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('loopbackServer() listens on 127.0.0.1 and hands over the socket it accepted', async () => {
    const loopback = await loopbackServer();
    const client = net.connect(loopback.port, '127.0.0.1');
    const peer = await loopback.accepted;
    try {
      expect(loopback.server.listening).to.equal(true);
      expect(peer.remotePort).to.equal(client.localPort);
      expect(peer.localAddress).to.equal('127.0.0.1');
    } finally {
      client.destroy();
      peer.destroy();
      loopback.server.close();
    }
  });

  it('fdCount() sees a new socket and within() waits for a condition, or gives up', async () => {
    const before = fdCount();
    const socket = await neverReads(port);
    expect(fdCount()).to.be.greaterThan(before);
    socket.destroy();
    expect(await within(2_000, () => fdCount() <= before)).to.equal(true);
    expect(await within(30, () => false)).to.equal(false);
  });

  it('slowReader() receives a whole reply after its delay; halfHandshake() resolves on close', async () => {
    const result = await slowReader(port, { send: 1000, delay: 20 });
    expect(result).to.deep.equal({ received: 100_000, error: undefined });
    await halfHandshake(port);
    await halfHandshake(port, true);
  });
});
