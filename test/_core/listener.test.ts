import net from 'node:net';
import tls from 'node:tls';
import { expect } from 'chai';
import { AbortError, ProxyProtocolError } from '../../src/errors.js';
import { Listener, ownSocketErrors, type ListenerOptions } from '../../src/_core/listener.js';
import { peerAddress, localAddress } from '../../src/_core/address.js';
import { ProxyHeaderReader } from '../../src/_proxy-protocol.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';
import { fdCount, within } from '../helpers/peers.js';
import { cert, key } from '../helpers/tls-fixtures.js';
import {
  CLIENT,
  FRONTEND,
  LOCAL,
  V1,
  V1_CLIENT,
  V2,
  closed,
  tlsAfterHeader,
} from '../helpers/proxy-clients.js';

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

  it('tracks each socket with one close listener and one error placeholder that ownSocketErrors() removes', async () => {
    const closedSockets: net.Socket[] = [];
    const { listener: l, accepted } = listener({
      onSocketClose: (socket) => closedSockets.push(socket),
    });
    await l.start();
    const port = (l.addresses()[0] as { port: number }).port;
    const clients = [await connect(port), await connect(port)];
    expect(await within(1_000, () => accepted.length === 2)).to.equal(true);
    const [first, second] = accepted as [net.Socket, net.Socket];
    // One function for every socket of the server: no closure per connection.
    expect(first.listeners('close')).to.have.length(1);
    expect(first.listeners('close')[0]).to.equal(second.listeners('close')[0]);
    expect(first.listenerCount('error')).to.equal(1);
    ownSocketErrors(first);
    expect(first.listenerCount('error')).to.equal(0);
    expect(l.tracks(first) && l.tracks(second)).to.equal(true);
    expect(l.tracks(clients[0]!)).to.equal(false);
    for (const socket of [...clients, ...accepted]) socket.destroy();
    expect(await within(1_000, () => l.socketCount === 0 && closedSockets.length === 2)).to.equal(
      true,
    );
    // Each close names its socket (an owner that left 'close' to the listener finds its own),
    // and is no longer tracked by then.
    expect(closedSockets).to.have.members(accepted);
    expect(l.tracks(first)).to.equal(false);
    l.close();
    await l.closed();
  });
});

/** A TLS + PROXY listener on loopback; what it handed over and reported. */
async function tlsProxyListener(overrides: Partial<ListenerOptions> = {}): Promise<{
  listener: Listener;
  port: number;
  accepted: tls.TLSSocket[];
  proxyErrors: unknown[];
  tlsErrors: unknown[];
}> {
  const accepted: tls.TLSSocket[] = [];
  const proxyErrors: unknown[] = [];
  const tlsErrors: unknown[] = [];
  const { listener: l } = listener({
    tls: { key, cert, requestCert: true, rejectUnauthorized: false, ca: cert },
    proxy: new ProxyHeaderReader({ version: 'any', timeout: 1_000 }),
    onProxyError: (error) => proxyErrors.push(error),
    onTlsClientError: (error) => tlsErrors.push(error),
    onConnection: (socket) => {
      const secure = socket as tls.TLSSocket;
      accepted.push(secure);
      // An echo over TLS
      secure.on('data', (data: Buffer) => secure.write(data));
      secure.on('end', () => secure.end());
    },
    ...overrides,
  });
  await l.start();
  const port = (l.addresses()[0] as { port: number }).port;
  return { listener: l, port, accepted, proxyErrors, tlsErrors };
}

/** Writes `data` and reads until as many bytes came back (the echo). */
async function echo(socket: tls.TLSSocket, data: string): Promise<string> {
  let received = '';
  socket.setEncoding('utf8');
  const done = new Promise<void>((resolve) => {
    socket.on('data', (text: string) => {
      received += text;
      if (received.length >= data.length) resolve();
    });
  });
  socket.write(data);
  await done;
  return received;
}

describe('Listener with the PROXY protocol and TLS', () => {
  it('reads the header off the raw socket, then handshakes: the TLS socket has the addresses from the header', async () => {
    const { listener: l, port, accepted } = await tlsProxyListener();
    try {
      const client = await tlsAfterHeader(port, V2, { key, cert });
      expect(await echo(client, 'over TLS\n')).to.equal('over TLS\n');
      expect(accepted).to.have.length(1);
      const secure = accepted[0]!;
      expect(secure).to.be.instanceOf(tls.TLSSocket);
      expect(secure.encrypted).to.equal(true);
      expect(peerAddress(secure)).to.deep.equal({ ...CLIENT, family: 'IPv4' });
      expect(localAddress(secure)).to.deep.equal({ ...FRONTEND, family: 'IPv4' });
      expect([secure.remoteAddress, secure.remotePort]).to.deep.equal([CLIENT.host, CLIENT.port]);
      // The client certificate went through the handshake as usual.
      expect(secure.authorized).to.equal(true);
      expect(secure.getPeerCertificate().subject.CN).to.equal('localhost');
      // Half-open only once the handshake is done.
      expect(secure.allowHalfOpen).to.equal(true);
      client.end();
      await closed(client);
    } finally {
      l.close();
      l.destroyAll();
      await l.closed();
    }
  });

  it('takes a v1 header too (IPv6 client addresses)', async () => {
    const { listener: l, port, accepted } = await tlsProxyListener();
    try {
      const client = await tlsAfterHeader(port, V1);
      expect(await echo(client, 'x')).to.equal('x');
      expect(peerAddress(accepted[0])).to.deep.equal({ ...V1_CLIENT, family: 'IPv6' });
      client.destroy();
    } finally {
      l.close();
      l.destroyAll();
      await l.closed();
    }
  });

  it('hands the TLS layer the bytes after the header even when the ClientHello came in the same write', async () => {
    const { listener: l, port, accepted } = await tlsProxyListener();
    try {
      // The TLS client runs over an in-memory pair; a relay sends its first bytes (the
      // ClientHello) in one write with the header, then copies both ways.
      const [inner, outer] = duplexPair();
      outer.on('error', () => undefined);
      const raw = net.connect({ host: '127.0.0.1', port });
      raw.on('error', () => undefined);
      await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
      outer.once('data', (hello: Buffer) => {
        raw.write(Buffer.concat([V2, hello]));
        outer.pipe(raw);
        raw.pipe(outer);
      });
      const client = tls.connect({ socket: inner, ca: cert, servername: 'localhost' });
      await new Promise<void>((resolve, reject) => {
        client.once('secureConnect', () => resolve());
        client.once('error', reject);
      });
      expect(await echo(client, 'same segment')).to.equal('same segment');
      expect(peerAddress(accepted[0])).to.deep.equal({ ...CLIENT, family: 'IPv4' });
      client.destroy();
      raw.destroy();
    } finally {
      l.close();
      l.destroyAll();
      await l.closed();
    }
  });

  it('closes a TLS client that sends no header (its ClientHello is not one) and reports ERR_DB_PROXY_HEADER', async () => {
    const { listener: l, port, accepted, proxyErrors, tlsErrors } = await tlsProxyListener();
    try {
      const client = tls.connect({ host: '127.0.0.1', port, ca: cert, servername: 'localhost' });
      let secured = false;
      client.once('secureConnect', () => (secured = true));
      await closed(client);
      expect(secured).to.equal(false);
      expect(await within(1_000, () => proxyErrors.length === 1)).to.equal(true);
      expect(proxyErrors[0]).to.be.instanceOf(ProxyProtocolError);
      expect((proxyErrors[0] as ProxyProtocolError).code).to.equal('ERR_DB_PROXY_HEADER');
      expect(accepted).to.deep.equal([]);
      expect(tlsErrors).to.deep.equal([]);
      expect(await within(1_000, () => l.socketCount === 0)).to.equal(true);
    } finally {
      l.close();
      await l.closed();
    }
  });

  it('closes a stalled handshake after a good header with handshakeTimeout (tlsClientError)', async () => {
    const {
      listener: l,
      port,
      accepted,
      proxyErrors,
      tlsErrors,
    } = await tlsProxyListener({
      handshakeTimeout: 200,
    });
    try {
      const raw = net.connect({ host: '127.0.0.1', port }, () => raw.write(V2));
      await closed(raw);
      expect(await within(1_000, () => tlsErrors.length === 1)).to.equal(true);
      expect((tlsErrors[0] as NodeJS.ErrnoException).code).to.equal('ERR_TLS_HANDSHAKE_TIMEOUT');
      expect(proxyErrors).to.deep.equal([]);
      expect(accepted).to.deep.equal([]);
      expect(await within(1_000, () => l.socketCount === 0)).to.equal(true);
    } finally {
      l.close();
      await l.closed();
    }
  });

  it('closes a LOCAL connection (a health check) without a handshake or a handler', async () => {
    const { listener: l, port, accepted, proxyErrors, tlsErrors } = await tlsProxyListener();
    try {
      const raw = net.connect({ host: '127.0.0.1', port }, () => raw.write(LOCAL));
      let received = 0;
      raw.on('data', (chunk: Buffer) => (received += chunk.length));
      raw.on('end', () => raw.end());
      await closed(raw);
      expect(received).to.equal(0);
      expect([accepted, proxyErrors, tlsErrors]).to.deep.equal([[], [], []]);
    } finally {
      l.close();
      await l.closed();
    }
  });

  it('close() destroys the sockets still waiting for their header, and reports nothing', async () => {
    const {
      listener: l,
      port,
      accepted,
      proxyErrors,
    } = await tlsProxyListener({
      proxy: new ProxyHeaderReader({ timeout: 60_000 }),
    });
    const raw = net.connect({ host: '127.0.0.1', port });
    raw.on('error', () => undefined);
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    expect(await within(1_000, () => l.socketCount === 1)).to.equal(true);
    const gone = closed(raw);
    l.close();
    await l.closed();
    await gone;
    expect(await within(1_000, () => l.socketCount === 0)).to.equal(true);
    expect([accepted, proxyErrors]).to.deep.equal([[], []]);
  });

  it('gives back every fd and timer after bad-header and stalled-header attacks', async () => {
    const {
      listener: l,
      port,
      accepted,
      proxyErrors,
      tlsErrors,
    } = await tlsProxyListener({
      proxy: new ProxyHeaderReader({ timeout: 150 }),
      handshakeTimeout: 150,
    });
    try {
      const before = activeResources();
      const fds = fdCount();
      const attacks: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) {
        // garbage, a stalled header, half a header, and a good header then a stalled handshake
        for (const bytes of [Buffer.from('GET / HTTP/1.0\r\n\r\n'), null, V2.subarray(0, 9), V2]) {
          const raw = net.connect({ host: '127.0.0.1', port }, () => {
            if (bytes !== null) raw.write(bytes);
          });
          attacks.push(closed(raw));
        }
      }
      await Promise.all(attacks);
      expect(
        await within(2_000, () => proxyErrors.length === 30 && tlsErrors.length === 10),
      ).to.equal(true);
      const codes = new Set(proxyErrors.map((e) => (e as ProxyProtocolError).code));
      expect([...codes].sort()).to.deep.equal(['ERR_DB_PROXY_HEADER', 'ERR_DB_PROXY_TIMEOUT']);
      expect(accepted).to.deep.equal([]);
      expect(await within(1_000, () => l.socketCount === 0)).to.equal(true);
      await expectNoLeaks(before);
      expect(fdCount()).to.be.at.most(fds);
    } finally {
      l.close();
      await l.closed();
    }
  });
});

describe('Listener with the PROXY protocol over plain TCP', () => {
  it('hands the connection over with the addresses from the header and the payload intact', async () => {
    const accepted: net.Socket[] = [];
    const received: Buffer[] = [];
    const { listener: l } = listener({
      proxy: new ProxyHeaderReader({ version: 'v2' }),
      onConnection: (socket) => {
        accepted.push(socket);
        socket.on('data', (chunk: Buffer) => received.push(chunk));
      },
    });
    await l.start();
    const port = (l.addresses()[0] as { port: number }).port;
    try {
      const client = await connect(port);
      client.write(Buffer.concat([V2, Buffer.from('hello')]));
      expect(await within(1_000, () => Buffer.concat(received).toString() === 'hello')).to.equal(
        true,
      );
      expect(peerAddress(accepted[0])).to.deep.equal({ ...CLIENT, family: 'IPv4' });
      client.destroy();
    } finally {
      l.close();
      l.destroyAll();
      await l.closed();
    }
  });

  it('close() destroys the sockets still waiting for their header', async () => {
    const errors: unknown[] = [];
    const { listener: l, accepted } = listener({
      proxy: new ProxyHeaderReader({ timeout: 60_000 }),
      onProxyError: (error) => errors.push(error),
    });
    await l.start();
    const port = (l.addresses()[0] as { port: number }).port;
    const client = await connect(port);
    expect(await within(1_000, () => l.socketCount === 1)).to.equal(true);
    const gone = closed(client);
    l.close();
    await gone;
    await l.closed();
    expect(await within(1_000, () => l.socketCount === 0)).to.equal(true);
    expect([accepted, errors]).to.deep.equal([[], []]);
  });
});
