import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { parseProxyHeader } from '../../src/_proxy-protocol.js';
import { rejection } from './async.js';
import {
  CLIENT,
  FRONTEND,
  LOCAL,
  V1,
  V1_CLIENT,
  V2,
  closed,
  tlsAfterHeader,
} from './proxy-clients.js';
import { cert, key } from './tls-fixtures.js';

/** Reads exactly `length` bytes off `socket`, putting back what came after them. */
function readHeader(socket: net.Socket, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length >= length) {
          socket.off('readable', onReadable);
          if (buffered.length > length) socket.unshift(buffered.subarray(length));
          resolve(buffered.subarray(0, length));
          return;
        }
      }
    };
    socket.on('readable', onReadable);
    socket.once('error', reject);
  });
}

/**
 * A loopback server that reads a `length`-byte header off each connection, then runs a TLS
 * handshake (the test certificate) over what follows and echoes what the TLS client sends.
 */
async function headerThenTls(
  length: number,
  options: tls.TlsOptions = {},
): Promise<{
  port: number;
  headers: Buffer[];
  secured: Promise<tls.TLSSocket>;
  close: () => void;
}> {
  const headers: Buffer[] = [];
  const secure = tls.createServer({ key, cert, ...options }, (socket) => socket.pipe(socket));
  const secured = once(secure, 'secureConnection').then(([socket]) => socket as tls.TLSSocket);
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    void readHeader(socket, length).then((header) => {
      headers.push(header);
      secure.emit('connection', socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    headers,
    secured,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe('proxy clients (test helper)', () => {
  it('V2 is a v2 PROXY header from CLIENT to FRONTEND', () => {
    const header = parseProxyHeader(V2);
    expect(header).to.include({ version: 2, command: 'PROXY', family: 'IPv4', length: V2.length });
    expect(header?.source).to.include(CLIENT);
    expect(header?.destination).to.include(FRONTEND);
  });

  it('V1 is a v1 header from the IPv6 V1_CLIENT', () => {
    const header = parseProxyHeader(V1, { version: 'v1' });
    expect(header).to.include({ version: 1, command: 'PROXY', family: 'IPv6', length: V1.length });
    expect(header?.source).to.include(V1_CLIENT);
    expect(V1.toString('latin1')).to.match(/^PROXY TCP6 2001:db8::7 /);
  });

  it('LOCAL is a v2 LOCAL header with no addresses', () => {
    const header = parseProxyHeader(LOCAL, { version: 'v2' });
    expect(header).to.include({ version: 2, command: 'LOCAL', length: LOCAL.length });
    expect(header?.source).to.equal(undefined);
  });

  it('tlsAfterHeader() sends the header first, then completes a TLS handshake on the same connection', async () => {
    const server = await headerThenTls(V2.length);
    try {
      const secure = await tlsAfterHeader(server.port, V2);
      try {
        expect(server.headers).to.have.length(1);
        expect(server.headers[0]!.equals(V2)).to.equal(true);
        expect(secure.authorized).to.equal(true);
        secure.write('over tls');
        const [echoed] = (await once(secure, 'data')) as [Buffer];
        expect(echoed.toString()).to.equal('over tls');
      } finally {
        secure.destroy();
      }
    } finally {
      server.close();
    }
  });

  it('tlsAfterHeader() passes its options to tls.connect (a client certificate)', async () => {
    const server = await headerThenTls(V1.length, { requestCert: true, ca: cert });
    try {
      const secure = await tlsAfterHeader(server.port, V1, { key, cert });
      try {
        const accepted = await server.secured;
        expect(server.headers[0]!.equals(V1)).to.equal(true);
        expect(accepted.authorized).to.equal(true);
        expect(accepted.getPeerCertificate().fingerprint256).to.equal(
          new X509Certificate(cert).fingerprint256,
        );
      } finally {
        secure.destroy();
      }
    } finally {
      server.close();
    }
  });

  it('tlsAfterHeader() rejects when nothing listens on the port', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const error = await rejection(tlsAfterHeader(port, V2));
    expect((error as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });

  it('closed() resolves at once for a socket that has already closed', async () => {
    const socket = new net.Socket();
    socket.destroy();
    await once(socket, 'close');
    let settled = false;
    await closed(socket).then(() => (settled = true));
    expect(settled).to.equal(true);
  });

  it('closed() resolves once a socket closes, discarding what it receives and ignoring a reset', async () => {
    const server = net.createServer((socket) => {
      socket.write(Buffer.alloc(256 * 1024, 1), () => socket.resetAndDestroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as net.AddressInfo;
      const socket = net.connect({ host: '127.0.0.1', port });
      const closing = closed(socket);
      expect(socket.readableFlowing).to.equal(true);
      expect(socket.listenerCount('error')).to.equal(1);
      await closing;
      expect(socket.closed).to.equal(true);
    } finally {
      server.close();
    }
  });
});
