// What a writer derives about its transport when no extraInfo was given.
import { expect } from 'chai';
import net from 'node:net';
import { once } from 'node:events';
import { transportInfo } from '../../src/modern/_extra-info.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { loopbackServer } from '../helpers/peers.js';

describe('transportInfo() (_extra-info)', () => {
  it('gives a TCP socket its addresses, itself, and no certificate', async () => {
    const { server, port, accepted } = await loopbackServer();
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const peer = await accepted;
    try {
      expect(transportInfo(client, 'peername')).to.deep.equal({
        host: '127.0.0.1',
        port,
        family: 'IPv4',
      });
      expect(transportInfo(client, 'sockname')).to.include({ host: '127.0.0.1', family: 'IPv4' });
      expect(transportInfo(client, 'socket')).to.equal(client);
      expect(transportInfo(client, 'peercert')).to.equal(undefined);
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });

  it('gives an in-memory Duplex only itself', () => {
    const [a, b] = duplexPair();
    expect(transportInfo(a, 'socket')).to.equal(a);
    expect(transportInfo(a, 'peername')).to.equal(undefined);
    expect(transportInfo(a, 'sockname')).to.equal(undefined);
    expect(transportInfo(a, 'peercert')).to.equal(undefined);
    a.end();
    b.end();
  });
});
