// TLS servers behind a load balancer that passes TLS through (TCP mode): startServer and
// startMixedServer with `tls` and `proxyProtocol` read the PROXY header off the raw TCP socket,
// then run the TLS handshake. The clients here write the header by hand, then run
// `tls.connect({ socket })` over the same connection (test/scaling/servers-behind-haproxy.test.ts
// does it with a real HAProxy).
import net from 'node:net';
import tls from 'node:tls';
import { expect } from 'chai';
import { startMixedServer } from '../../src/adapter/index.js';
import { AsyncChat, type AsyncChatOptions } from '../../src/legacy/index.js';
import {
  ProxyProtocolError,
  startServer,
  type Server,
  type ServerOptions,
  type StreamHandler,
} from '../../src/modern/index.js';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';
import { fdCount, within } from '../helpers/peers.js';
import { cert, key } from '../helpers/tls-fixtures.js';
import {
  CLIENT,
  FRONTEND,
  V1,
  V1_CLIENT,
  V2,
  closed,
  tlsAfterHeader,
} from '../helpers/proxy-clients.js';

/** TLS with client certificates: the test certificate is its own CA. */
const TLS = { key, cert, ca: cert, requestCert: true };

/** Answers the first line with what the handler sees of its peer. */
const whoAmI: StreamHandler = async (reader, writer, context) => {
  await reader.readLine();
  const socket = writer.getExtraInfo('socket') as tls.TLSSocket;
  const peercert = writer.getExtraInfo('peercert') as tls.PeerCertificate;
  writer.write(
    `${JSON.stringify({
      context: context.remoteAddress,
      peername: writer.getExtraInfo('peername'),
      sockname: writer.getExtraInfo('sockname'),
      authorized: socket.authorized,
      cn: peercert.subject.CN,
    })}\n`,
  );
};

class LegacyWhoAmI extends AsyncChat {
  constructor(options: AsyncChatOptions) {
    super(options);
    this.setTerminator('\n');
  }
  override collectIncomingData(): void {}
  override foundTerminator(): void {
    const socket = this.socket as tls.TLSSocket;
    this.push(`legacy ${socket.remoteAddress} ${socket.remotePort} ${socket.authorized}\n`);
    this.closeWhenDone();
  }
}

/** With the client certificate by default. */
const tlsClient = (
  port: number,
  header: Buffer,
  options: tls.ConnectionOptions = { key, cert },
): Promise<tls.TLSSocket> => tlsAfterHeader(port, header, options);

/** Sends one line and reads the one-line answer, then closes. */
async function ask(socket: tls.TLSSocket): Promise<string> {
  socket.setEncoding('utf8');
  let received = '';
  const answered = new Promise<void>((resolve, reject) => {
    socket.on('data', (text: string) => {
      received += text;
      if (received.endsWith('\n')) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
  socket.write('who?\n');
  await answered;
  socket.end();
  return received;
}

describe('TLS servers with the PROXY protocol (header on the raw socket, then the handshake)', () => {
  let server: Server | undefined;
  const errors: unknown[] = [];
  let handled = 0;

  async function serve(options: Partial<ServerOptions> = {}): Promise<number> {
    server = await startServer(
      async (reader, writer, context) => {
        handled++;
        await whoAmI(reader, writer, context);
      },
      { host: '127.0.0.1', port: 0, tls: TLS, proxyProtocol: 'any', ...options },
    );
    server.on('error', (error) => errors.push(error));
    return (server.address() as { port: number }).port;
  }

  beforeEach(() => {
    errors.length = 0;
    handled = 0;
  });
  afterEach(async () => {
    await server?.shutdown({ timeout: 0 });
    server = undefined;
  });

  it('startServer: the handler sees the client from the header, and its certificate, authorized', async () => {
    const port = await serve();
    const answer = JSON.parse(await ask(await tlsClient(port, V2))) as unknown;
    expect(answer).to.deep.equal({
      context: { ...CLIENT, family: 'IPv4' },
      peername: { ...CLIENT, family: 'IPv4' },
      sockname: { ...FRONTEND, family: 'IPv4' },
      authorized: true,
      cn: 'localhost',
    });
    const v1 = JSON.parse(await ask(await tlsClient(port, V1))) as { context: unknown };
    expect(v1.context).to.deep.equal({ ...V1_CLIENT, family: 'IPv6' });
    expect(errors).to.deep.equal([]);
  });

  it('startServer: a client without a certificate is refused by the handshake (rejectUnauthorized)', async () => {
    const port = await serve();
    const outcome = await tlsClient(port, V2, {}).then(
      async (socket) => {
        // TLS 1.3: the client learns of the refusal after its handshake, at its first read
        const text = await ask(socket).catch((error: NodeJS.ErrnoException) => error.code);
        return text === '' ? 'closed' : text;
      },
      () => 'closed',
    );
    expect(outcome).to.be.oneOf(['closed', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED']);
    expect(handled).to.equal(0);
  });

  it('startServer: a TLS client that sends no header is closed and reported (ERR_DB_PROXY_HEADER)', async () => {
    const port = await serve();
    const client = tls.connect({ host: '127.0.0.1', port, ca: cert, servername: 'localhost' });
    let secure = false;
    client.once('secureConnect', () => (secure = true));
    await closed(client);
    expect(secure).to.equal(false);
    expect(await within(1_000, () => errors.length === 1)).to.equal(true);
    expect(errors[0]).to.be.instanceOf(ProxyProtocolError);
    expect((errors[0] as ProxyProtocolError).code).to.equal('ERR_DB_PROXY_HEADER');
    expect(server!.stats().refused).to.equal(1);
    expect(handled).to.equal(0);
  });

  it('startServer: a handshake that stalls after a good header is closed by handshakeTimeout', async () => {
    const port = await serve({ handshakeTimeout: 200 });
    const raw = net.connect({ host: '127.0.0.1', port }, () => raw.write(V2));
    await closed(raw);
    expect(handled).to.equal(0);
    expect(errors).to.deep.equal([]);
    expect(server!.connections).to.equal(0);
  });

  it('startServer: gives back every fd and timer after bad-header and stalled attacks, and shuts down at once', async () => {
    const port = await serve({ handshakeTimeout: 150 });
    const before = activeResources();
    const fds = fdCount();
    const attacks: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      for (const bytes of [Buffer.from('\x16\x03\x01\x00\xa0\x01'), null, V2.subarray(0, 9), V2]) {
        const raw = net.connect({ host: '127.0.0.1', port }, () => {
          if (bytes !== null) raw.write(bytes);
        });
        attacks.push(closed(raw));
      }
    }
    await Promise.all(attacks);
    expect(await within(2_000, () => errors.length === 30)).to.equal(true);
    expect(handled).to.equal(0);
    await expectNoLeaks(before);
    expect(fdCount()).to.be.at.most(fds);
    // a stalled header pending while the server shuts down does not hold it up
    const stalled = net.connect({ host: '127.0.0.1', port });
    stalled.on('error', () => undefined);
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    const gone = closed(stalled);
    await server!.shutdown();
    await gone;
  });

  it('startMixedServer: routes by the client address from the header, over TLS, to either side', async () => {
    const mixed = await startMixedServer({
      legacy: LegacyWhoAmI,
      modern: whoAmI,
      route: {
        by: 'address',
        choose: (address) =>
          'host' in address && address.host === CLIENT.host ? 'legacy' : 'modern',
      },
      host: '127.0.0.1',
      port: 0,
      tls: TLS,
      proxyProtocol: 'any',
    });
    try {
      const port = (mixed.address() as { port: number }).port;
      expect(await ask(await tlsClient(port, V2))).to.equal(
        `legacy ${CLIENT.host} ${CLIENT.port} true\n`,
      );
      const modern = JSON.parse(await ask(await tlsClient(port, V1))) as {
        context: unknown;
        authorized: boolean;
      };
      expect(modern.context).to.deep.equal({ ...V1_CLIENT, family: 'IPv6' });
      expect(modern.authorized).to.equal(true);
    } finally {
      await mixed.shutdown({ timeout: 0 });
    }
  });
});
