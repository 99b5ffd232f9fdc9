// A real HAProxy in front of a node:net server that takes the PROXY header off each connection
// with ProxyHeaderReader: for `send-proxy` (v1) and `send-proxy-v2`, the server sees the client's
// own address and port (IPv4 and IPv6), the payload arrives intact after the header, haproxy's
// health checks are recognised, and a balancer outside `trustedProxies` is refused. The haproxy
// config is examples/haproxy.cfg with loopback addresses (test/helpers/haproxy.ts).
//
// haproxy is required: without it these tests fail and say `apt-get install haproxy`.
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import net from 'node:net';

import {
  ProxyHeaderReader,
  ProxyProtocolError,
  type ProxyHeader,
} from '../../src/_proxy-protocol.js';
import {
  EXAMPLE_CONFIG,
  findHaproxy,
  renderConfig,
  startHaproxy,
  type Haproxy,
} from '../helpers/haproxy.js';
import { rejection } from '../helpers/async.js';

/** What the backend saw of one connection. */
interface Seen {
  header?: ProxyHeader;
  error?: ProxyProtocolError;
}

/**
 * A plain node:net backend: reads the PROXY header, then answers `<source as JSON>\n` and echoes
 * what it receives; closes LOCAL connections (health checks) and refused ones.
 */
async function startBackend(reader: ProxyHeaderReader): Promise<{
  server: net.Server;
  port: number;
  seen: Seen[];
}> {
  const seen: Seen[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    reader.read(socket).then(
      (header) => {
        seen.push({ header });
        if (header.command === 'LOCAL') {
          socket.end();
          return;
        }
        socket.write(`${JSON.stringify(header.source ?? null)}\n`);
        socket.pipe(socket);
      },
      (error: unknown) => {
        seen.push({ error: error as ProxyProtocolError });
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port, seen };
}

/** Connects through haproxy, sends `payload`, and returns everything received until the end. */
async function exchange(
  endpoint: { host: string; port: number },
  payload: string,
  complete: (received: string) => boolean,
): Promise<{ local: { host: string; port: number }; received: string }> {
  const socket = net.connect(endpoint.port, endpoint.host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const local = { host: socket.localAddress!, port: socket.localPort! };
  socket.write(payload);
  let received = '';
  socket.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within 5 s; got ${JSON.stringify(received)}`));
    }, 5000);
    socket.on('data', (text: string) => {
      received += text;
      if (complete(received)) socket.end();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', () => {});
  });
  return { local, received };
}

async function until(probe: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the PROXY protocol behind a real HAProxy', function () {
  this.timeout(30_000);

  it('finds haproxy (apt-get install haproxy when this fails)', async () => {
    expect(await findHaproxy()).to.match(/haproxy$/);
  });

  it('fails with how to install haproxy when there is none', async () => {
    const error = await rejection(findHaproxy(['/nonexistent']));
    expect(String(error)).to.match(/haproxy is not installed.*run `apt-get install haproxy`/);
  });

  it('renders examples/haproxy.cfg with only its addresses (and v1 send-proxy) replaced', async () => {
    const template = await readFile(EXAMPLE_CONFIG, 'utf8');
    const config = renderConfig(template, {
      binds: [{ host: '::1', port: 1234 }],
      servers: [
        { host: '127.0.0.1', port: 5000 },
        { host: '127.0.0.1', port: 5001 },
      ],
      sendProxy: 'v1',
    });
    expect(config).to.include('bind [::1]:1234');
    expect(config).to.match(/server node1 127\.0\.0\.1:5000 send-proxy check/);
    expect(config).to.match(/server node2 127\.0\.0\.1:5001 send-proxy check/);
    expect(config.split('\n').filter((line) => !line.trim().startsWith('#'))).not.to.satisfy(
      (lines: string[]) => lines.some((line) => line.includes('10.0.0.')),
    );
    const kept = (text: string): string[] =>
      text.split('\n').filter((line) => !/^\s*(bind|server)\s/.test(line));
    expect(kept(config)).to.deep.equal(kept(template));
    expect(() =>
      renderConfig('frontend x\n    default_backend y\n', {
        binds: [],
        servers: [],
        sendProxy: 'v2',
      }),
    ).to.throw(/one `bind` line/);
  });

  it('is the configuration the scaling-out documentation shows (comments aside)', async () => {
    // The README's "Scaling out" section
    const doc = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /```haproxy\n([\s\S]*?)```/.exec(doc);
    expect(block, 'a ```haproxy block').not.to.equal(null);
    const significant = (text: string): string[] =>
      text
        .split('\n')
        .map((line) => line.replace(/#.*$/, '').trimEnd())
        .filter((line) => line.trim() !== '');
    expect(significant(block![1]!)).to.deep.equal(
      significant(await readFile(EXAMPLE_CONFIG, 'utf8')),
    );
  });

  for (const version of ['v1', 'v2'] as const) {
    describe(`send-proxy${version === 'v2' ? '-v2' : ''} (${version})`, () => {
      let haproxy: Haproxy | undefined;
      let backend: Awaited<ReturnType<typeof startBackend>> | undefined;

      before(async () => {
        backend = await startBackend(new ProxyHeaderReader({ version, timeout: 5000 }));
        haproxy = await startHaproxy({
          servers: [{ host: '127.0.0.1', port: backend.port }],
          sendProxy: version,
          bindHosts: ['127.0.0.1', '::1'],
        });
      });

      after(async () => {
        try {
          await haproxy?.stop();
        } finally {
          await new Promise<void>((resolve) =>
            backend ? backend.server.close(() => resolve()) : resolve(),
          );
        }
      });

      for (const family of ['IPv4', 'IPv6'] as const) {
        it(`gives the server the ${family} client's own address and port, then the payload intact`, async () => {
          const frontend = haproxy!.binds[family === 'IPv4' ? 0 : 1]!;
          const payload = 'hello\nworld\n'.repeat(100);
          const { local, received } = await exchange(
            frontend,
            payload,
            (text) => text.length > payload.length && text.endsWith(payload),
          );
          const [line, ...rest] = received.split('\n');
          expect(JSON.parse(line!)).to.deep.equal({ host: local.host, port: local.port, family });
          expect(rest.join('\n')).to.equal(payload);
          const header = backend!.seen.find(
            (s) =>
              s.header?.source !== undefined &&
              'port' in s.header.source &&
              s.header.source.port === local.port,
          )?.header;
          expect(header).to.include({
            version: version === 'v1' ? 1 : 2,
            command: 'PROXY',
            family,
            transport: 'stream',
          });
          expect(header!.destination).to.deep.equal({
            host: frontend.host,
            port: frontend.port,
            family,
          });
        });
      }

      if (version === 'v2') {
        it("recognises haproxy's health checks as LOCAL connections", async () => {
          // `check` in the example: every 2 s haproxy connects with a LOCAL header and closes
          await until(
            () => backend!.seen.some((s) => s.header?.command === 'LOCAL'),
            6000,
            'a health check',
          );
          const check = backend!.seen.find((s) => s.header?.command === 'LOCAL')!.header!;
          expect(check).to.include({ version: 2, family: 'unspec' });
          expect(check.source).to.equal(undefined);
        });
      }
    });
  }
});
