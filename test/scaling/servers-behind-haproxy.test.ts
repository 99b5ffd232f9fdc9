// The servers themselves behind a real HAProxy (examples/haproxy.cfg): startServer,
// startMixedServer and a plain legacy listening Dispatcher with `proxyProtocol` see the client's
// own address for send-proxy (v1) and send-proxy-v2, an address route picks by it, a TLS server
// behind haproxy in TCP mode (TLS passed through) sees it too, health checks never reach a
// handler, and a connection without a header, or from an untrusted peer, is closed and reported.
import net from 'node:net';
import tls from 'node:tls';
import { expect } from 'chai';
import { startMixedServer, type MixedServer } from '../../src/adapter/index.js';
import {
  AsyncChat,
  Dispatcher,
  SocketMap,
  loop,
  type Address,
  type AsyncChatOptions,
  type LogType,
} from '../../src/legacy/index.js';
import {
  ProxyProtocolError,
  openConnection,
  startServer,
  type Server,
  type StreamHandler,
} from '../../src/modern/index.js';
import { startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { within } from '../helpers/peers.js';
import { cert, key } from '../helpers/tls-fixtures.js';

/** Answers the first line with the peer as the handler sees it. */
const whoAmI: StreamHandler = async (reader, writer, context) => {
  await reader.readLine();
  writer.write(
    `${JSON.stringify({ context: context.remoteAddress, peername: writer.getExtraInfo('peername') })}\n`,
  );
};

class LegacyWhoAmI extends AsyncChat {
  constructor(options: AsyncChatOptions) {
    super(options);
    this.setTerminator('\n');
  }
  override collectIncomingData(): void {}
  override foundTerminator(): void {
    const socket = this.socket as net.Socket;
    this.push(`legacy ${socket.remoteAddress}:${socket.remotePort}\n`);
    this.closeWhenDone();
  }
}

/**
 * The errors that are not haproxy's own probes: startHaproxy() probes the frontend with
 * connections it closes at once, and haproxy relays each (with its header) to the backend, then
 * resets it; a peer that is gone before its address is read cannot be trusted
 * (ERR_DB_PROXY_UNTRUSTED with no `peer`).
 */
function notProbes(errors: readonly unknown[]): unknown[] {
  return errors.filter(
    (error) =>
      !(
        error instanceof ProxyProtocolError &&
        error.code === 'ERR_DB_PROXY_UNTRUSTED' &&
        error.peer === undefined
      ),
  );
}

/** A plain legacy listener: records what accept() gives, serves each connection with LegacyWhoAmI. */
class LegacyListener extends Dispatcher {
  readonly accepted: Address[] = [];
  readonly logs: { message: string; type: LogType }[] = [];
  override handleAccept(): void {
    const pair = this.accept();
    if (pair === null) return;
    this.accepted.push(pair.address);
    new LegacyWhoAmI({ socket: pair.socket, map: this.map });
  }
  override logInfo(message: string, type: LogType = 'info'): void {
    this.logs.push({ message, type });
  }
}

/** Starts a LegacyListener with its own map and loop; `stop()` closes both. */
async function startLegacy(options: Parameters<Dispatcher['listen']>[1]): Promise<{
  listener: LegacyListener;
  port: number;
  errors: ProxyProtocolError[];
  stop(): Promise<void>;
}> {
  const map = new SocketMap();
  const errors: ProxyProtocolError[] = [];
  const listener = new LegacyListener({ map });
  listener.bind({ host: '127.0.0.1', port: 0 });
  await listener.listen(undefined, { onProxyError: (error) => errors.push(error), ...options });
  const running = loop({ map, timeout: 50 });
  return {
    listener,
    port: (listener.address() as { port: number }).port,
    errors,
    stop: async () => {
      map.closeAll();
      await running;
    },
  };
}

/** Over TLS through haproxy (which passes it through): one line asked, one answered. */
async function askTls(endpoint: {
  host: string;
  port: number;
}): Promise<{ local: { host: string; port: number }; answer: string }> {
  const socket = tls.connect({
    host: endpoint.host,
    port: endpoint.port,
    servername: 'localhost',
    ca: cert,
    key,
    cert,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const local = { host: socket.localAddress!, port: socket.localPort! };
  socket.setEncoding('utf8');
  let answer = '';
  const answered = new Promise<void>((resolve, reject) => {
    socket.on('data', (text: string) => {
      answer += text;
      if (answer.endsWith('\n')) resolve();
    });
    socket.once('error', reject);
  });
  socket.write('who?\n');
  await answered;
  socket.end();
  return { local, answer };
}

async function ask(endpoint: {
  host: string;
  port: number;
}): Promise<{ local: net.AddressInfo; answer: string }> {
  const pair = await openConnection({ host: endpoint.host, port: endpoint.port });
  const local = pair.writer.getExtraInfo('sockname') as { host: string; port: number };
  pair.writer.write('who?\n');
  const answer = (await pair.reader.readLine()).toString();
  pair.writer.close();
  return { local: { address: local.host, port: local.port, family: '' }, answer };
}

describe('servers behind a real HAProxy (proxyProtocol)', function () {
  this.timeout(30_000);

  for (const version of ['v1', 'v2'] as const) {
    describe(`send-proxy${version === 'v2' ? '-v2' : ''}`, () => {
      let haproxy: Haproxy | undefined;
      let modern: Server | undefined;
      let mixed: MixedServer | undefined;
      let legacy: Awaited<ReturnType<typeof startLegacy>> | undefined;
      let legacyProxy: Haproxy | undefined;
      const errors: unknown[] = [];
      let handled = 0;

      before(async () => {
        modern = await startServer(
          async (reader, writer, context) => {
            handled++;
            await whoAmI(reader, writer, context);
          },
          { host: '127.0.0.1', port: 0, proxyProtocol: version },
        );
        modern.on('error', (error) => errors.push(error));
        mixed = await startMixedServer({
          legacy: LegacyWhoAmI,
          modern: whoAmI,
          // By the client's address, which only the header knows: IPv6 clients go modern.
          route: {
            by: 'address',
            choose: (address) =>
              'host' in address && address.host === '::1' ? 'modern' : 'legacy',
          },
          host: '127.0.0.1',
          port: 0,
          proxyProtocol: version,
        });
        haproxy = await startHaproxy({
          servers: [{ host: '127.0.0.1', port: (modern.address() as { port: number }).port }],
          sendProxy: version,
          bindHosts: ['127.0.0.1', '::1'],
        });
        legacy = await startLegacy({ proxyProtocol: version });
        legacyProxy = await startHaproxy({
          servers: [{ host: '127.0.0.1', port: legacy.port }],
          sendProxy: version,
          bindHosts: ['127.0.0.1', '::1'],
        });
      });
      after(async () => {
        await haproxy?.stop();
        await legacyProxy?.stop();
        await modern?.shutdown({ timeout: 0 });
        await mixed?.shutdown({ timeout: 0 });
        await legacy?.stop();
      });

      for (const [index, family] of [
        [0, 'IPv4'],
        [1, 'IPv6'],
      ] as const) {
        it(`startServer: the handler sees the ${family} client's own address, in the context and peername`, async () => {
          const { local, answer } = await ask(haproxy!.binds[index]!);
          const expected = { host: local.address, port: local.port, family };
          expect(JSON.parse(answer)).to.deep.equal({ context: expected, peername: expected });
        });
      }

      for (const [index, family] of [
        [0, 'IPv4'],
        [1, 'IPv6'],
      ] as const) {
        it(`a legacy Dispatcher listener: accept() and the handler see the ${family} client's own address`, async () => {
          const { local, answer } = await ask(legacyProxy!.binds[index]!);
          expect(answer).to.equal(`legacy ${local.address}:${local.port}\n`);
          expect(legacy!.listener.accepted).to.deep.include({
            host: local.address,
            port: local.port,
            family,
          });
          expect(notProbes(legacy!.errors)).to.deep.equal([]);
        });
      }

      it('a legacy Dispatcher listener: a connection without a header is closed and reported; never accepted', async () => {
        const accepted = legacy!.listener.accepted.length;
        legacy!.errors.length = 0;
        const socket = net.connect({ host: '127.0.0.1', port: legacy!.port });
        socket.on('error', () => undefined);
        socket.write('who?\n');
        socket.resume();
        await new Promise((resolve) => socket.once('close', resolve));
        const reported = (): unknown[] => notProbes(legacy!.errors);
        expect(await within(1_000, () => reported().length === 1)).to.equal(true);
        expect((reported()[0] as ProxyProtocolError).code).to.equal('ERR_DB_PROXY_HEADER');
        expect(legacy!.listener.accepted.length).to.equal(accepted);
        expect(legacy!.listener.accepting).to.equal(true);
        legacy!.errors.length = 0;
      });

      it('startServer with tls behind haproxy in TCP mode: the handler sees the client, its certificate authorized', async () => {
        const server = await startServer(
          async (reader, writer, context) => {
            await reader.readLine();
            const socket = writer.getExtraInfo('socket') as tls.TLSSocket;
            writer.write(
              `${JSON.stringify({
                context: context.remoteAddress,
                peername: writer.getExtraInfo('peername'),
                authorized: socket.authorized,
                cn: socket.getPeerCertificate().subject.CN,
              })}\n`,
            );
          },
          {
            host: '127.0.0.1',
            port: 0,
            proxyProtocol: version,
            tls: { key, cert, ca: cert, requestCert: true },
          },
        );
        const tlsErrors: unknown[] = [];
        server.on('error', (error) => tlsErrors.push(error));
        const tlsProxy = await startHaproxy({
          servers: [{ host: '127.0.0.1', port: (server.address() as { port: number }).port }],
          sendProxy: version,
          bindHosts: ['127.0.0.1', '::1'],
        });
        try {
          for (const [index, family] of [
            [0, 'IPv4'],
            [1, 'IPv6'],
          ] as const) {
            const { local, answer } = await askTls(tlsProxy.binds[index]!);
            const expected = { host: local.host, port: local.port, family };
            expect(JSON.parse(answer)).to.deep.equal({
              context: expected,
              peername: expected,
              authorized: true,
              cn: 'localhost',
            });
          }
          expect(notProbes(tlsErrors)).to.deep.equal([]);
        } finally {
          await tlsProxy.stop();
          await server.shutdown({ timeout: 0 });
        }
      });

      it('startMixedServer: an address route picks by the client address from the header', async () => {
        const mixedProxy = await startHaproxy({
          servers: [{ host: '127.0.0.1', port: (mixed!.address() as { port: number }).port }],
          sendProxy: version,
          bindHosts: ['127.0.0.1', '::1'],
        });
        try {
          const v4 = await ask(mixedProxy.binds[0]!);
          expect(v4.answer).to.equal(`legacy 127.0.0.1:${v4.local.port}\n`);
          const v6 = await ask(mixedProxy.binds[1]!);
          expect((JSON.parse(v6.answer) as { context: unknown }).context).to.deep.equal({
            host: '::1',
            port: v6.local.port,
            family: 'IPv6',
          });
        } finally {
          await mixedProxy.stop();
        }
      });

      if (version === 'v2') {
        it("haproxy's health checks (LOCAL) never reach a handler", async () => {
          const before = handled;
          // `check` in the example: every 2 s a LOCAL connection, closed by the server.
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          expect(handled).to.equal(before);
          expect(modern!.stats().accepted).to.equal(handled);
          expect(notProbes(errors)).to.deep.equal([]);
        });

        it("haproxy's health checks (LOCAL) never reach a legacy listener's handleAccept()", async () => {
          const accepted = legacy!.listener.accepted.length;
          let connections = 0;
          const count = (): void => void connections++;
          legacy!.listener.server!.on('connection', count);
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          legacy!.listener.server!.off('connection', count);
          // haproxy did check (a LOCAL connection every 2 s), and no check was offered to accept()
          expect(connections).to.be.above(0);
          expect(legacy!.listener.accepted.length).to.equal(accepted);
          expect(notProbes(legacy!.errors)).to.deep.equal([]);
        });
      }

      it('a connection without a header is closed and reported; no handler runs', async () => {
        const before = handled;
        const errorsBefore = errors.length;
        const socket = net.connect({
          host: '127.0.0.1',
          port: (modern!.address() as { port: number }).port,
        });
        socket.on('error', () => undefined);
        socket.write('who?\n');
        socket.resume();
        await new Promise((resolve) => socket.once('close', resolve));
        await within(1_000, () => errors.length > errorsBefore);
        const error = errors.at(-1) as ProxyProtocolError;
        expect(error).to.be.instanceOf(ProxyProtocolError);
        expect(error.code).to.equal('ERR_DB_PROXY_HEADER');
        expect(handled).to.equal(before);
      });
    });
  }

  it('an untrusted balancer is refused (ERR_DB_PROXY_UNTRUSTED), and health checks never reach a handler', async () => {
    let handled = 0;
    const errors: unknown[] = [];
    const server = await startServer(
      () => {
        handled++;
      },
      { host: '127.0.0.1', port: 0, proxyProtocol: 'v2', trustedProxies: ['10.0.0.0/8'] },
    );
    server.on('error', (error) => errors.push(error));
    try {
      const socket = net.connect({
        host: '127.0.0.1',
        port: (server.address() as { port: number }).port,
      });
      socket.on('error', () => undefined);
      socket.resume();
      await new Promise((resolve) => socket.once('close', resolve));
      await within(1_000, () => errors.length === 1);
      expect((errors[0] as ProxyProtocolError).code).to.equal('ERR_DB_PROXY_UNTRUSTED');
      expect(handled).to.equal(0);
      expect(server.stats().refused).to.equal(1);
    } finally {
      await server.shutdown({ timeout: 0 });
    }
  });

  it('an untrusted balancer in front of a legacy listener is refused (ERR_DB_PROXY_UNTRUSTED); the client is closed', async () => {
    const legacy = await startLegacy({ proxyProtocol: 'v2', trustedProxies: ['10.0.0.0/8'] });
    const balancer = await startHaproxy({
      servers: [{ host: '127.0.0.1', port: legacy.port }],
      sendProxy: 'v2',
    });
    try {
      const socket = net.connect(balancer.binds[0]!);
      socket.on('error', () => undefined);
      socket.write('who?\n');
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (text: string) => (received += text));
      await new Promise((resolve) => socket.once('close', resolve));
      expect(received).to.equal('');
      expect(await within(1_000, () => legacy.errors.length > 0)).to.equal(true);
      expect(new Set(legacy.errors.map((e) => e.code))).to.deep.equal(
        new Set(['ERR_DB_PROXY_UNTRUSTED']),
      );
      expect(legacy.listener.accepted).to.deep.equal([]);
      expect(legacy.listener.accepting).to.equal(true);
    } finally {
      await balancer.stop();
      await legacy.stop();
    }
  });

  it('refuses a bad proxyProtocol, and trustedProxies without it; takes proxyProtocol with tls', async () => {
    const refusal = (options: Parameters<typeof startServer>[1]): Promise<unknown> =>
      startServer(() => undefined, options).then(
        () => null,
        (error: unknown) => error,
      );
    const bad = await refusal({ proxyProtocol: 'v3' as never });
    expect(bad).to.be.instanceOf(RangeError);
    expect((bad as Error).message).to.contain('`proxyProtocol`');
    const withTls = await startServer(() => undefined, {
      host: '127.0.0.1',
      port: 0,
      proxyProtocol: 'v2',
      tls: { key, cert },
    });
    expect(withTls.address()).to.have.property('port').that.is.above(0);
    await withTls.shutdown({ timeout: 0 });
    const alone = await refusal({ trustedProxies: ['127.0.0.1'] });
    expect((alone as Error).message).to.contain('`trustedProxies`');
  });
});
