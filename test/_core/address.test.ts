import { expect } from 'chai';
import net from 'node:net';
import {
  fromAddressInfo,
  localAddress,
  peekPeer,
  peerAddress,
  readPeerOnce,
  tcpAddress,
} from '../../src/_core/address.js';
import { duplexPair } from '../helpers/duplex-pair.js';

describe('the one address rule (_core/address)', () => {
  it('gives an IPv4-mapped IPv6 host as plain IPv4, and keeps real IPv6', () => {
    expect(tcpAddress('::ffff:127.0.0.1', 80, 'IPv6')).to.deep.equal({
      host: '127.0.0.1',
      port: 80,
      family: 'IPv4',
    });
    expect(tcpAddress('::1', 81, 'IPv6')).to.deep.equal({ host: '::1', port: 81, family: 'IPv6' });
    // A mapped prefix that is not followed by IPv4 is left alone.
    expect(tcpAddress('::ffff:abcd', 82, undefined)).to.deep.equal({
      host: '::ffff:abcd',
      port: 82,
      family: 'IPv6',
    });
    expect(tcpAddress('10.0.0.1', 83, undefined)).to.deep.equal({
      host: '10.0.0.1',
      port: 83,
      family: 'IPv4',
    });
  });

  it("over loopback: an IPv4 client of a '::' listener is IPv4 on both ends", async () => {
    let accepted!: net.Socket;
    const server = net.createServer((socket) => (accepted = socket));
    await new Promise<void>((resolve) => server.listen(0, '::', resolve));
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    while (accepted === undefined) await new Promise((resolve) => setImmediate(resolve));
    expect(accepted.remoteAddress).to.equal('::ffff:127.0.0.1');
    expect(peerAddress(accepted)).to.deep.equal({
      host: '127.0.0.1',
      port: client.localPort,
      family: 'IPv4',
    });
    expect(localAddress(accepted)).to.deep.equal({ host: '127.0.0.1', port, family: 'IPv4' });
    expect(peerAddress(client)).to.deep.equal({ host: '127.0.0.1', port, family: 'IPv4' });
    client.destroy();
    accepted.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('peekPeer(): a peer read at accept is still known once the socket has closed; unread, it is not', async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => {
      if (accepted.length === 0) peekPeer(socket);
      accepted.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    for (const client of clients) client.on('error', () => undefined);
    try {
      while (accepted.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      const closing = accepted.map(
        (socket) => new Promise((resolve) => socket.once('close', resolve)),
      );
      for (const socket of accepted) socket.destroy();
      await Promise.all(closing);
      const [peeked, unread] = accepted as [net.Socket, net.Socket];
      expect(peerAddress(peeked)).to.include({ host: '127.0.0.1', family: 'IPv4' });
      expect(peerAddress(peeked)!).to.have.property('port').that.is.above(0);
      expect(peerAddress(unread)).to.equal(undefined);
    } finally {
      for (const client of clients) client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("readPeerOnce(): the peer, without leaving Node's copy on the socket (a later read reads it again)", async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    try {
      await new Promise((resolve) => client.once('connect', resolve));
      while (accepted.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
      const socket = accepted[0]! as net.Socket & { _peername?: unknown };
      const peer = readPeerOnce(socket);
      expect(peer).to.deep.equal({ host: '127.0.0.1', port: client.localPort, family: 'IPv4' });
      expect(socket._peername).to.equal(undefined);
      // A peer someone else read first stays read.
      expect(socket.remoteAddress).to.equal('127.0.0.1');
      expect(readPeerOnce(socket)).to.deep.equal(peer);
      expect(socket._peername).to.not.equal(undefined);
    } finally {
      client.destroy();
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('has no address for an in-memory duplex, null or undefined', () => {
    const [a, b] = duplexPair();
    expect(peerAddress(a)).to.equal(undefined);
    expect(localAddress(a)).to.equal(undefined);
    expect(peerAddress(null)).to.equal(undefined);
    expect(localAddress(undefined)).to.equal(undefined);
    a.end();
    b.end();
    a.resume();
    b.resume();
  });

  it("reads Node's address() results: a pipe path, AddressInfo, {} and null", () => {
    expect(fromAddressInfo('/tmp/x.sock')).to.deep.equal({ path: '/tmp/x.sock' });
    expect(fromAddressInfo({ address: '::ffff:10.1.2.3', port: 9, family: 'IPv6' })).to.deep.equal({
      host: '10.1.2.3',
      port: 9,
      family: 'IPv4',
    });
    expect(fromAddressInfo({ address: '::', port: 9 })).to.deep.equal({
      host: '::',
      port: 9,
      family: 'IPv6',
    });
    expect(fromAddressInfo({})).to.equal(undefined);
    expect(fromAddressInfo(null)).to.equal(undefined);
    expect(fromAddressInfo(42)).to.equal(undefined);
  });
});
