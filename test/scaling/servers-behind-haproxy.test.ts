// The servers themselves behind a real HAProxy (examples/haproxy.cfg): startServer and
// startMixedServer with `proxyProtocol` see the client's own address for send-proxy (v1) and
// send-proxy-v2, an address route picks by it, health checks never reach a handler, and a
// connection without a header, or from an untrusted peer, is closed and reported.
import net from 'node:net';
import { expect } from 'chai';
import { startMixedServer, type MixedServer } from '../../src/adapter/index.js';
import { AsyncChat, type AsyncChatOptions } from '../../src/legacy/index.js';
import {
  ProxyProtocolError,
  openConnection,
  startServer,
  type Server,
  type StreamHandler,
} from '../../src/modern/index.js';
import { startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { within } from '../helpers/peers.js';

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
      });
      after(async () => {
        await haproxy?.stop();
        await modern?.shutdown({ timeout: 0 });
        await mixed?.shutdown({ timeout: 0 });
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
          expect(errors).to.deep.equal([]);
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

  it('refuses a bad proxyProtocol, proxyProtocol with tls, and trustedProxies without it', async () => {
    const refusal = (options: Parameters<typeof startServer>[1]): Promise<unknown> =>
      startServer(() => undefined, options).then(
        () => null,
        (error: unknown) => error,
      );
    const bad = await refusal({ proxyProtocol: 'v3' as never });
    expect(bad).to.be.instanceOf(RangeError);
    expect((bad as Error).message).to.contain('`proxyProtocol`');
    const withTls = await refusal({ proxyProtocol: 'v2', tls: { key: 'k', cert: 'c' } });
    expect((withTls as Error).message).to.contain('`tls`');
    const alone = await refusal({ trustedProxies: ['127.0.0.1'] });
    expect((alone as Error).message).to.contain('`trustedProxies`');
  });
});
