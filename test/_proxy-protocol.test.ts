import { expect } from 'chai';
import fc from 'fast-check';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

import {
  DEFAULT_TRUSTED_PROXIES,
  encodeProxyHeader,
  normalizeAddress,
  ProxyHeaderReader,
  ProxyProtocolError,
  readProxyHeader,
  type ProxyHeader,
} from '../src/_proxy-protocol.js';
import { rejection, tick } from './helpers/async.js';
import { chunked, chunkings, cut, label } from './helpers/chunkings.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { cert, key } from './helpers/tls-fixtures.js';
import { abortListeners, activeResources, expectNoLeaks } from './helpers/leaks.js';

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');
const LOOPBACK = { host: '127.0.0.1', port: 40000 };
const V1 = ascii('PROXY TCP4 203.0.113.7 10.0.0.1 51000 7000\r\n');
const V2 = encodeProxyHeader({
  version: 2,
  source: { host: '2001:db8::7', port: 51000 },
  destination: { host: '2001:db8::1', port: 7000 },
  tlvs: [[0x02, ascii('chat.example')]],
});
const LOCAL = encodeProxyHeader({ version: 2, command: 'LOCAL' });
const PAYLOAD = ascii('HELO x\r\nQUIT\r\n');

/** Everything `socket` delivers from now until its end, through a 'data' listener. */
function collect(socket: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

async function proxyError(promise: Promise<unknown>, code: string): Promise<ProxyProtocolError> {
  const error = await rejection(promise);
  expect(error).to.be.instanceOf(ProxyProtocolError);
  expect((error as ProxyProtocolError).code).to.equal(code);
  return error as ProxyProtocolError;
}

/** Reads the header off the server end while the client end writes `chunks` then ends. */
async function readThrough(
  chunks: readonly Buffer[],
  reader = new ProxyHeaderReader(),
): Promise<{ header: ProxyHeader; rest: Buffer }> {
  const [client, server] = duplexPair();
  const reading = reader.read(server, { peer: LOOPBACK });
  for (const chunk of chunks) {
    client.write(chunk);
    await tick();
  }
  client.end();
  const header = await reading;
  return { header, rest: await collect(server) };
}

/** Destroys the sockets of a test, ignoring the resets that destroying one end gives the other. */
function destroy(...sockets: Duplex[]): void {
  for (const socket of sockets) socket.on('error', () => {});
  for (const socket of sockets) socket.destroy();
}

function listeners(socket: Duplex): number[] {
  return ['readable', 'data', 'end', 'close', 'error'].map((e) => socket.listenerCount(e));
}

describe('ProxyHeaderReader#read() over an in-memory duplex', () => {
  for (const [name, header] of [
    ['v1', V1],
    ['v2', V2],
  ] as const) {
    it(`reads a ${name} header cut at every point (and at every two points), the payload intact`, async () => {
      const data = Buffer.concat([header, PAYLOAD]);
      let runs = 0;
      for (const chunks of chunkings(data, { maxParts: 3 })) {
        if (chunks.length === 3 && (chunks[0]!.length + chunks[1]!.length) % 5 !== 0) continue;
        const { header: parsed, rest } = await readThrough(chunks);
        expect(parsed.length, label(chunks)).to.equal(header.length);
        expect(rest, label(chunks)).to.deep.equal(PAYLOAD);
        runs++;
      }
      expect(runs).to.be.greaterThan(data.length);
    });
  }

  it('reads headers in random segments and leaves every payload byte for the next reader', async () => {
    const headers = fc.constantFrom(V1, V2, LOCAL, ascii('PROXY UNKNOWN\r\n'));
    await fc.assert(
      fc.asyncProperty(
        headers.chain((h) =>
          chunked(fc.uint8Array({ maxLength: 200 }).map((p) => Buffer.concat([h, p]))).map((c) => ({
            h,
            ...c,
          })),
        ),
        async ({ h, data, chunks }) => {
          const { header, rest } = await readThrough(chunks);
          expect(header.length).to.equal(h.length);
          expect(rest).to.deep.equal(data.subarray(h.length));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('resolves to the parsed header and leaves the socket as accepted, not flowing', async () => {
    const [client, server] = duplexPair();
    const reading = readProxyHeader(server, { peer: LOOPBACK, version: 'v1' });
    client.write(Buffer.concat([V1, PAYLOAD]));
    const header = await reading;
    expect(header.source).to.deep.equal({ host: '203.0.113.7', port: 51000, family: 'IPv4' });
    expect(server.readableFlowing).not.to.equal(true);
    expect(listeners(server)).to.deep.equal([0, 0, 0, 0, 0]);
    await tick();
    expect(server.read()).to.deep.equal(PAYLOAD);
    destroy(client, server);
  });

  it('delivers end-of-stream after the payload when the peer ended right after sending', async () => {
    const { rest } = await readThrough([Buffer.concat([V2, PAYLOAD])]);
    expect(rest).to.deep.equal(PAYLOAD);
    const { rest: none } = await readThrough([V2]);
    expect(none).to.have.length(0);
  });

  it('reads a header already buffered (and ended) before it was called', async () => {
    const [client, server] = duplexPair();
    client.end(Buffer.concat([V2, PAYLOAD]));
    await tick();
    await tick();
    expect(server.readableLength).to.equal(V2.length + PAYLOAD.length);
    const header = await readProxyHeader(server, { peer: LOOPBACK });
    expect(header.length).to.equal(V2.length);
    expect(await collect(server)).to.deep.equal(PAYLOAD);
    destroy(client, server);
  });

  it('reports LOCAL (a health check) with no addresses', async () => {
    const { header } = await readThrough([LOCAL]);
    expect(header).to.include({ command: 'LOCAL', version: 2 });
    expect(header.source).to.equal(undefined);
  });

  it('takes only LOCAL from a peer whose address is unknown', async () => {
    const reader = new ProxyHeaderReader();
    const [client, server] = duplexPair();
    const reading = reader.read(server);
    client.write(LOCAL);
    expect((await reading).command).to.equal('LOCAL');
    const [client2, server2] = duplexPair();
    const refused = reader.read(server2);
    client2.write(V1);
    const error = await proxyError(refused, 'ERR_DB_PROXY_UNTRUSTED');
    expect(error.message).to.match(/address is unknown/);
    expect(error.peer).to.equal(undefined);
    destroy(client, server, client2, server2);
  });

  it('rejects a malformed header at once with ERR_DB_PROXY_HEADER and the peer', async () => {
    const [client, server] = duplexPair();
    const reading = readProxyHeader(server, { peer: { host: '::ffff:127.0.0.1', port: 9 } });
    client.write(ascii('GET / HTTP/1.1\r\n'));
    const error = await proxyError(reading, 'ERR_DB_PROXY_HEADER');
    expect(error.message).to.match(/does not start with a PROXY v1 or v2 signature/);
    expect(error.peer).to.deep.equal({ host: '127.0.0.1', port: 9, family: 'IPv4' });
    expect(listeners(server)).to.deep.equal([0, 0, 0, 0, 0]);
    destroy(client, server);
  });

  it('rejects a v2 header on a v1 listener and an over-long v2 header before reading it', async () => {
    const [client, server] = duplexPair();
    const v1Only = readProxyHeader(server, { peer: LOOPBACK, version: 'v1' });
    client.write(V2);
    expect((await proxyError(v1Only, 'ERR_DB_PROXY_HEADER')).message).to.match(
      /expected a v1 header/,
    );
    const [client2, server2] = duplexPair();
    const small = readProxyHeader(server2, { peer: LOOPBACK, maxHeaderBytes: V2.length - 1 });
    client2.write(V2.subarray(0, 16));
    expect((await proxyError(small, 'ERR_DB_PROXY_HEADER')).message).to.match(
      /longer than maxHeaderBytes/,
    );
    destroy(client, server, client2, server2);
  });

  it('rejects with ERR_DB_PROXY_TIMEOUT when no complete header comes in time, and cleans up', async () => {
    await tick();
    const before = activeResources();
    const [client, server] = duplexPair();
    const none = readProxyHeader(server, { peer: LOOPBACK, timeout: 30, version: 'v2' });
    expect((await proxyError(none, 'ERR_DB_PROXY_TIMEOUT')).message).to.equal(
      'Expected a PROXY v2 header from 127.0.0.1:40000: no complete header within 30 ms after no PROXY protocol header',
    );
    const partial = readProxyHeader(server, { peer: LOOPBACK, timeout: 30 });
    client.write(V1.subarray(0, 10));
    expect((await proxyError(partial, 'ERR_DB_PROXY_TIMEOUT')).message).to.match(
      /incomplete PROXY protocol header \(10 bytes\)/,
    );
    expect(listeners(server)).to.deep.equal([0, 0, 0, 0, 0]);
    destroy(client, server);
    await expectNoLeaks(before);
  });

  it('rejects with ERR_DB_PROXY_HEADER when the peer ends, fails or is gone before a header', async () => {
    const [client, server] = duplexPair();
    const ended = readProxyHeader(server, { peer: LOOPBACK });
    client.end(V1.subarray(0, 20));
    expect((await proxyError(ended, 'ERR_DB_PROXY_HEADER')).message).to.match(
      /the peer ended the connection after an incomplete PROXY protocol header \(20 bytes\)/,
    );

    const [client2, server2] = duplexPair();
    const failed = readProxyHeader(server2, { peer: LOOPBACK });
    client2.on('error', () => {});
    const boom = new Error('boom');
    server2.destroy(boom);
    const error = await proxyError(failed, 'ERR_DB_PROXY_HEADER');
    expect(error.message).to.match(/the connection failed/);
    expect(error.cause).to.equal(boom);

    const [client3, server3] = duplexPair();
    const closing = readProxyHeader(server3, { peer: LOOPBACK });
    client3.on('error', () => {});
    server3.destroy();
    expect((await proxyError(closing, 'ERR_DB_PROXY_HEADER')).message).to.match(
      /the connection closed/,
    );
    // already gone when called
    expect(
      (await proxyError(readProxyHeader(server3, { peer: LOOPBACK }), 'ERR_DB_PROXY_HEADER'))
        .message,
    ).to.match(/closed/);
    destroy(client, server, client2, client3);
  });

  it('rejects an untrusted peer at once, reading nothing', async () => {
    const [client, server] = duplexPair();
    client.write(V1);
    await tick();
    const reading = readProxyHeader(server, { peer: { host: '10.1.2.3', port: 5 } });
    const error = await proxyError(reading, 'ERR_DB_PROXY_UNTRUSTED');
    expect(error.message).to.match(
      /refused from peer 10\.1\.2\.3:5: not in trustedProxies \(127\.0\.0\.0\/8, ::1/,
    );
    expect(error.peer).to.deep.equal({ host: '10.1.2.3', port: 5, family: 'IPv4' });
    expect(server.read()).to.deep.equal(V1);
    const other = readProxyHeader(server, {
      peer: { host: '10.1.2.3', port: 5 },
      trustedProxies: ['10.0.0.0/8'],
    });
    client.write(V1);
    expect((await other).length).to.equal(V1.length);
    destroy(client, server);
  });

  it('names an untrusted Unix or IPv6 peer, and times out an unknown one', async () => {
    const [client, server] = duplexPair();
    const reader = new ProxyHeaderReader({ trustedProxies: [], timeout: 20 });
    const unix = await proxyError(
      reader.read(server, { peer: { path: '/run/lb.sock' } }),
      'ERR_DB_PROXY_UNTRUSTED',
    );
    expect(unix.message).to.match(/from peer unix:\/run\/lb\.sock: not in trustedProxies \(\)/);
    const six = await proxyError(
      reader.read(server, { peer: { host: 'fe80::1', port: 5 } }),
      'ERR_DB_PROXY_UNTRUSTED',
    );
    expect(six.message).to.match(/from peer \[fe80::1\]:5:/);
    const unknown = await proxyError(reader.read(server), 'ERR_DB_PROXY_TIMEOUT');
    expect(unknown.message).to.match(
      /header from an unknown peer: no complete header within 20 ms/,
    );
    destroy(client, server);
  });

  it("checks the remoteAddress of a Duplex that has one (a socket's peer)", async () => {
    const [client, server] = duplexPair();
    const reader = new ProxyHeaderReader({ trustedProxies: ['192.0.2.0/24'] });
    Object.assign(server, { remoteAddress: '::ffff:192.0.2.9' });
    const reading = reader.read(server);
    client.write(V1);
    expect((await reading).length).to.equal(V1.length);
    Object.assign(server, { remoteAddress: '198.51.100.1' });
    const refused = await proxyError(reader.read(server), 'ERR_DB_PROXY_UNTRUSTED');
    expect(refused.peer).to.deep.equal({ host: '198.51.100.1', port: 0, family: 'IPv4' });
    destroy(client, server);
  });

  it('rejects with signal.reason when aborted, before or during the wait, and removes its listener', async () => {
    const [client, server] = duplexPair();
    const reason = new Error('server closing');
    expect(
      await rejection(
        readProxyHeader(server, { peer: LOOPBACK, signal: AbortSignal.abort(reason) }),
      ),
    ).to.equal(reason);
    const controller = new AbortController();
    const reading = readProxyHeader(server, { peer: LOOPBACK, signal: controller.signal });
    client.write(V1.subarray(0, 5));
    await tick();
    controller.abort(reason);
    expect(await rejection(reading)).to.equal(reason);
    expect(abortListeners(controller.signal)).to.equal(0);
    const done = new AbortController();
    const ok = readProxyHeader(server, { peer: LOOPBACK, signal: done.signal });
    client.write(V1);
    await ok;
    expect(abortListeners(done.signal)).to.equal(0);
    destroy(client, server);
  });

  it('throws a TypeError for a non-byte stream, a bad signal or a bad peer', () => {
    const [client, server] = duplexPair();
    const reader = new ProxyHeaderReader();
    expect(() => reader.read(server, { signal: {} as AbortSignal })).to.throw(
      TypeError,
      /`signal`/,
    );
    expect(() => reader.read(server, { peer: { host: 1 } as never })).to.throw(TypeError, /`peer`/);
    expect(() => reader.read(server, { peer: null as never })).to.throw(TypeError, /`peer`/);
    server.setEncoding('utf8');
    expect(() => reader.read(server, { peer: LOOPBACK })).to.throw(TypeError, /byte stream/);
    destroy(client, server);
  });
});

describe('new ProxyHeaderReader()', () => {
  it('has the documented defaults', () => {
    const reader = new ProxyHeaderReader();
    expect(reader).to.include({ version: 'any', timeout: 5000, maxHeaderBytes: 4096 });
    expect(reader.trustedProxies).to.deep.equal(DEFAULT_TRUSTED_PROXIES);
    expect(reader.trusts({ host: '::ffff:127.0.0.5', port: 1 })).to.equal(true);
    expect(reader.trusts({ host: '192.0.2.1', port: 1 })).to.equal(false);
  });

  it('names the bad option in a TypeError or RangeError', () => {
    const cases: [unknown, ErrorConstructor, RegExp][] = [
      [{ version: 'v3' }, RangeError, /`version` to be 'v1', 'v2' or 'any', got `v3` \(string\)/],
      [{ version: 2 }, TypeError, /`version`.*`2` \(number\)/],
      [{ timeout: 0 }, RangeError, /`timeout` to be a positive number/],
      [{ timeout: -1 }, RangeError, /`timeout`/],
      [{ timeout: Number.NaN }, RangeError, /`timeout`/],
      [{ timeout: Infinity }, RangeError, /`timeout`/],
      [{ timeout: '5' }, TypeError, /`timeout`/],
      [{ maxHeaderBytes: 15 }, RangeError, /`maxHeaderBytes` to be an integer from 16 to 65551/],
      [{ maxHeaderBytes: 65552 }, RangeError, /`maxHeaderBytes`/],
      [{ maxHeaderBytes: 100.5 }, RangeError, /`maxHeaderBytes`/],
      [{ trustedProxies: '127.0.0.1' }, TypeError, /`trustedProxies`/],
      [{ trustedProxies: ['nope'] }, RangeError, /`trustedProxies\[0\]`/],
    ];
    for (const [options, type, message] of cases) {
      expect(() => new ProxyHeaderReader(options as never), JSON.stringify(options)).to.throw(
        type,
        message,
      );
    }
    expect(() => new ProxyHeaderReader(null as never)).to.throw(
      TypeError,
      /options to be an object/,
    );
  });

  it("uses the server's option names in its messages when given them", () => {
    const names = { version: 'proxyProtocol', timeout: 'proxyTimeout' };
    expect(() => new ProxyHeaderReader({ version: 'v9' as never }, names)).to.throw(
      RangeError,
      /`proxyProtocol`/,
    );
    expect(() => new ProxyHeaderReader({ timeout: -5 }, names)).to.throw(
      RangeError,
      /`proxyTimeout`/,
    );
  });
});

describe('ProxyHeaderReader#read() over loopback sockets', () => {
  /** A server on `host` whose connections are read by `reader`; returns what it saw. */
  async function serve(
    host: string,
    reader: ProxyHeaderReader,
  ): Promise<{
    server: net.Server;
    port: number;
    next: () => Promise<{ header?: ProxyHeader; error?: unknown; rest?: Buffer; remote: string }>;
  }> {
    const results: Promise<{
      header?: ProxyHeader;
      error?: unknown;
      rest?: Buffer;
      remote: string;
    }>[] = [];
    const server = net.createServer((socket) => {
      const remote = socket.remoteAddress ?? '';
      results.push(
        reader.read(socket).then(
          async (header) => ({ header, rest: await collect(socket), remote }),
          (error: unknown) => {
            socket.destroy();
            return { error, remote };
          },
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const port = (server.address() as net.AddressInfo).port;
    return {
      server,
      port,
      next: async () => {
        while (results.length === 0) await tick();
        return results.shift()!;
      },
    };
  }

  async function connect(host: string, port: number): Promise<net.Socket> {
    const socket = net.connect({ host, port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return socket;
  }

  let server: net.Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  for (const [name, header] of [
    ['v1', V1],
    ['v2', V2],
  ] as const) {
    it(`reads a ${name} header sent one byte per segment, then the payload intact`, async () => {
      const s = await serve('127.0.0.1', new ProxyHeaderReader());
      server = s.server;
      const client = await connect('127.0.0.1', s.port);
      const data = Buffer.concat([header, PAYLOAD]);
      for (const chunk of cut(data, [...Array(header.length + 2).keys()])) {
        await new Promise<void>((resolve) => client.write(chunk, () => resolve()));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      client.end();
      const seen = await s.next();
      expect(seen.error).to.equal(undefined);
      expect(seen.header!.length).to.equal(header.length);
      expect(seen.rest).to.deep.equal(PAYLOAD);
    });
  }

  it('reads a header and payload sent in one segment', async () => {
    const s = await serve('127.0.0.1', new ProxyHeaderReader({ version: 'v2' }));
    server = s.server;
    const client = await connect('127.0.0.1', s.port);
    client.end(Buffer.concat([V2, PAYLOAD]));
    const seen = await s.next();
    expect(seen.header!.source).to.deep.equal({ host: '2001:db8::7', port: 51000, family: 'IPv6' });
    expect(seen.header!.tlvs.get(0x02)!.toString()).to.equal('chat.example');
    expect(seen.rest).to.deep.equal(PAYLOAD);
  });

  it('trusts an IPv6 loopback peer (::1) by default', async () => {
    const s = await serve('::1', new ProxyHeaderReader());
    server = s.server;
    const client = await connect('::1', s.port);
    client.end(V1);
    const seen = await s.next();
    expect(seen.remote).to.equal('::1');
    expect(seen.header!.length).to.equal(V1.length);
  });

  it('trusts an IPv4 peer of a dual-stack listener (::ffff:127.0.0.1) by default', async () => {
    const s = await serve('::', new ProxyHeaderReader());
    server = s.server;
    const client = await connect('127.0.0.1', s.port);
    client.end(LOCAL);
    const seen = await s.next();
    expect(seen.remote).to.equal('::ffff:127.0.0.1');
    expect(seen.header!.command).to.equal('LOCAL');
    expect(normalizeAddress({ host: seen.remote, port: 1 })).to.deep.equal({
      host: '127.0.0.1',
      port: 1,
      family: 'IPv4',
    });
  });

  it('refuses a loopback peer that is not in trustedProxies, and the client sees the close', async () => {
    const s = await serve(
      '127.0.0.1',
      new ProxyHeaderReader({ trustedProxies: ['10.0.0.0/8', 'fd00::/8'] }),
    );
    server = s.server;
    const client = await connect('127.0.0.1', s.port);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => {});
    client.write(V1);
    const seen = await s.next();
    expect((seen.error as ProxyProtocolError).code).to.equal('ERR_DB_PROXY_UNTRUSTED');
    expect((seen.error as ProxyProtocolError).peer).to.include({
      host: '127.0.0.1',
      family: 'IPv4',
    });
    await closed;
  });

  it('reads the header off a connection accepted paused (pauseOnConnect)', async () => {
    const reader = new ProxyHeaderReader();
    const seen = new Promise<{ header: ProxyHeader; rest: Buffer }>((resolve, reject) => {
      server = net.createServer({ pauseOnConnect: true }, (socket) => {
        reader
          .read(socket)
          .then(async (header) => resolve({ header, rest: await collect(socket) }), reject);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const client = await connect('127.0.0.1', (server!.address() as net.AddressInfo).port);
    client.end(Buffer.concat([V1, PAYLOAD]));
    const { header, rest } = await seen;
    expect(header.length).to.equal(V1.length);
    expect(rest).to.deep.equal(PAYLOAD);
  });

  it("leaves a TLS ClientHello that came in the header's segment for a TLSSocket to use", async () => {
    const reader = new ProxyHeaderReader({ version: 'v2' });
    let buffered = 0;
    const answered = new Promise<string>((resolve, reject) => {
      server = net.createServer((raw) => {
        reader.read(raw).then((header) => {
          buffered = raw.readableLength; // the ClientHello, put back
          const secure = new tls.TLSSocket(raw, { isServer: true, key, cert });
          secure.on('error', reject);
          secure.once('data', (data: Buffer) => {
            secure.end(`${JSON.stringify(header.source)} said ${data.toString()}`);
            resolve('served');
          });
        }, reject);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const raw = await connect('127.0.0.1', (server!.address() as net.AddressInfo).port);
    raw.cork(); // the header and the ClientHello leave in one segment
    raw.write(V2);
    const client = tls.connect({ socket: raw, ca: cert, servername: 'localhost' });
    process.nextTick(() => raw.uncork());
    await new Promise<void>((resolve, reject) => {
      client.once('secureConnect', resolve);
      client.once('error', reject);
    });
    client.write('hi');
    let reply = '';
    client.setEncoding('utf8');
    client.on('data', (text: string) => (reply += text));
    await new Promise<void>((resolve) => client.once('end', resolve));
    client.end();
    expect(await answered).to.equal('served');
    expect(buffered).to.be.greaterThan(100);
    expect(reply).to.equal('{"host":"2001:db8::7","port":51000,"family":"IPv6"} said hi');
  });

  it('times out a client that sends nothing', async () => {
    const s = await serve('127.0.0.1', new ProxyHeaderReader({ timeout: 50 }));
    server = s.server;
    const client = await connect('127.0.0.1', s.port);
    client.on('error', () => {});
    const seen = await s.next();
    expect((seen.error as ProxyProtocolError).code).to.equal('ERR_DB_PROXY_TIMEOUT');
    client.destroy();
  });
});
