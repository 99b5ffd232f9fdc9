// A legacy listening Dispatcher behind a load balancer: `listen(backlog, { proxyProtocol })`
// reads each connection's PROXY header before handleAccept() sees it, over loopback.
import { expect } from 'chai';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { asDispatcherClass, toStreams } from '../../src/adapter/index.js';
import { ProxyProtocolError } from '../../src/errors.js';
import { Dispatcher, SocketMap, loop, type Address } from '../../src/legacy/index.js';
import type { ListenOptions } from '../../src/legacy/_listen-options.js';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';
import { fdCount, within } from '../helpers/peers.js';
import { CLIENT, LOCAL, V1, V1_CLIENT, V2 } from '../helpers/proxy-clients.js';
import { QuietDispatcher } from './_support.js';

/** Echoes what it reads, after one line saying who its peer is (socket and bridge views). */
class WhoAmI extends Dispatcher {
  override writable(): boolean {
    return false;
  }
  override handleRead(): void {
    const data = this.recv(65536);
    if (data.length > 0) this.send(data);
  }
  override logInfo(): void {}
}

/** A listening dispatcher that records accept() results and the accepted handlers. */
class Server extends QuietDispatcher {
  readonly accepted: Address[] = [];
  readonly handlers: WhoAmI[] = [];
  readonly errors: unknown[] = [];
  override handleAccept(): void {
    const pair = this.accept();
    if (pair === null) return;
    this.accepted.push(pair.address);
    const socket = pair.socket as net.Socket;
    const handler = new WhoAmI({ socket, map: this.map });
    this.handlers.push(handler);
    handler.send(`${socket.remoteAddress} ${socket.remotePort}\n`);
  }
  override handleError(error: unknown): void {
    this.errors.push(error);
    super.handleError(error);
  }
}

/** Connects and resolves once connected (errors ignored afterwards). */
function connect(options: net.NetConnectOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options, () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves once `socket` closed; what it received until then. */
function untilClosed(socket: net.Socket): Promise<string> {
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => (received += text));
  socket.on('end', () => socket.end());
  return new Promise((resolve) => {
    if (socket.closed) resolve(received);
    else socket.once('close', () => resolve(received));
  });
}

/** Whether the listening `net.Server` of `server` gets to `count` open connections within 1 s. */
async function connectionCount(server: Dispatcher, count: number): Promise<boolean> {
  const deadline = Date.now() + 1_000;
  while (Date.now() < deadline) {
    const open = await new Promise<number>((resolve) =>
      server.server!.getConnections((_error, n) => resolve(n)),
    );
    if (open === count) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

/** Reads from `socket` until `probe` accepts what arrived. */
async function receive(socket: net.Socket, probe: (text: string) => boolean): Promise<string> {
  let received = '';
  socket.setEncoding('latin1');
  const onData = (text: string): void => void (received += text);
  socket.on('data', onData);
  const ok = await within(2_000, () => probe(received));
  socket.off('data', onData);
  if (!ok) throw new Error(`did not receive what was expected; got ${JSON.stringify(received)}`);
  return received;
}

describe('Dispatcher#listen() with the PROXY protocol (_listener)', () => {
  let map: SocketMap;
  let done: Promise<void> | undefined;
  beforeEach(() => {
    map = new SocketMap();
    done = undefined;
  });
  afterEach(async () => {
    map.closeAll();
    await done;
  });

  async function start(
    options: ListenOptions,
    address: Address = { host: '127.0.0.1', port: 0 },
  ): Promise<{ server: Server; port: number; proxyErrors: ProxyProtocolError[] }> {
    const proxyErrors: ProxyProtocolError[] = [];
    const server = new Server({ map });
    server.bind(address);
    await server.listen(undefined, {
      onProxyError: (error) => proxyErrors.push(error),
      ...options,
    });
    done = loop({ map, timeout: 50 });
    const bound = server.address();
    return { server, port: bound !== null && 'port' in bound ? bound.port : 0, proxyErrors };
  }

  for (const [version, header, client] of [
    ['v2', V2, { ...CLIENT, family: 'IPv4' }],
    ['v1', V1, { ...V1_CLIENT, family: 'IPv6' }],
  ] as const) {
    it(`${version}: accept() and the accepted socket give the client's address from the header; the payload that came with it is intact`, async () => {
      const { server, port } = await start({ proxyProtocol: version });
      const socket = await connect({ host: '127.0.0.1', port });
      socket.write(Buffer.concat([header, Buffer.from('ping\n')]));
      const text = await receive(socket, (t) => t.endsWith('ping\n'));
      expect(text).to.equal(`${client.host} ${client.port}\nping\n`);
      expect(server.accepted).to.deep.equal([client]);
      // The bridge's view (getExtraInfo) follows the socket's.
      const { writer } = toStreams(server.handlers[0]!);
      expect(writer.getExtraInfo('peername')).to.deep.equal(client);
      socket.destroy();
    });
  }

  it('an async handler served through asDispatcherClass() sees the client from the header in its context', async () => {
    const Connection = asDispatcherClass(async (reader, writer, context) => {
      await reader.readLine();
      writer.write(`${JSON.stringify([context.remoteAddress, writer.getExtraInfo('peername')])}\n`);
    });
    class Listener extends QuietDispatcher {
      override handleAccepted(socket: net.Socket): void {
        new Connection({ socket, map: this.map });
      }
    }
    const listener = new Listener({ map });
    listener.bind({ host: '127.0.0.1', port: 0 });
    await listener.listen(undefined, { proxyProtocol: 'v2' });
    done = loop({ map, timeout: 50 });
    const socket = await connect({
      host: '127.0.0.1',
      port: (listener.address() as { port: number }).port,
    });
    socket.write(Buffer.concat([V2, Buffer.from('who?\n')]));
    const text = await receive(socket, (t) => t.endsWith('\n'));
    const client = { ...CLIENT, family: 'IPv4' };
    expect(JSON.parse(text)).to.deep.equal([client, client]);
    socket.destroy();
  });

  it("'any' takes both versions on one listener", async () => {
    const { server, port } = await start({ proxyProtocol: 'any' });
    for (const header of [V1, V2]) {
      const socket = await connect({ host: '127.0.0.1', port });
      socket.write(header);
      await receive(socket, (t) => t.endsWith('\n'));
      socket.destroy();
    }
    expect(server.accepted.map((a) => ('host' in a ? a.host : a.path))).to.deep.equal([
      V1_CLIENT.host,
      CLIENT.host,
    ]);
  });

  it('works on a Unix socket: its peers are trusted as `unix` by default', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'db-proxy-'));
    try {
      const file = path.join(dir, 'listener.sock');
      const { server } = await start({ proxyProtocol: 'v2' }, { path: file });
      const socket = await connect({ path: file });
      socket.write(V2);
      const text = await receive(socket, (t) => t.endsWith('\n'));
      expect(text).to.equal(`${CLIENT.host} ${CLIENT.port}\n`);
      expect(server.accepted).to.deep.equal([{ ...CLIENT, family: 'IPv4' }]);
      socket.destroy();
    } finally {
      map.closeAll();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('closes a LOCAL connection (a health check) without offering it to handleAccept()', async () => {
    const { server, port, proxyErrors } = await start({ proxyProtocol: 'v2' });
    const socket = await connect({ host: '127.0.0.1', port });
    socket.write(LOCAL);
    expect(await untilClosed(socket)).to.equal('');
    expect(server.accepted).to.deep.equal([]);
    expect(proxyErrors).to.deep.equal([]);
    expect(map.stats().accepted).to.equal(0);
  });

  const bad: [string, ListenOptions, (socket: net.Socket) => void, string][] = [
    [
      'a connection without a header',
      { proxyProtocol: 'v2' },
      (socket) => socket.write('HELO\r\n'),
      'ERR_DB_PROXY_HEADER',
    ],
    [
      'a header of the wrong version',
      { proxyProtocol: 'v1' },
      (socket) => socket.write(V2),
      'ERR_DB_PROXY_HEADER',
    ],
    [
      'a peer that ends during the header',
      { proxyProtocol: 'any' },
      (socket) => socket.end(V2.subarray(0, 20)),
      'ERR_DB_PROXY_HEADER',
    ],
    [
      'a v2 header longer than 4096 bytes, as soon as its length is known',
      { proxyProtocol: 'v2', headerTimeout: 60_000 },
      (socket) => {
        const fixed = Buffer.from(V2.subarray(0, 16));
        fixed.writeUInt16BE(0xffff, 14);
        socket.write(fixed);
      },
      'ERR_DB_PROXY_HEADER',
    ],
    [
      'an untrusted balancer',
      { proxyProtocol: 'v2', trustedProxies: ['10.0.0.0/8'] },
      (socket) => socket.write(V2),
      'ERR_DB_PROXY_UNTRUSTED',
    ],
    [
      'a header too slow to come',
      { proxyProtocol: 'v2', headerTimeout: 100 },
      (socket) => socket.write(V2.subarray(0, 5)),
      'ERR_DB_PROXY_TIMEOUT',
    ],
  ];
  for (const [what, options, send, code] of bad) {
    it(`closes ${what} (${code}), reports it, and goes on listening`, async () => {
      const { server, port, proxyErrors } = await start(options);
      const socket = await connect({ host: '127.0.0.1', port });
      send(socket);
      expect(await untilClosed(socket)).to.equal('');
      expect(await within(1_000, () => proxyErrors.length === 1)).to.equal(true);
      expect(proxyErrors[0]).to.be.instanceOf(ProxyProtocolError);
      expect(proxyErrors[0]!.code).to.equal(code);
      expect(server.accepted).to.deep.equal([]);
      expect(server.errors).to.deep.equal([]);
      expect(server.accepting).to.equal(true);
      expect(map.stats().refused).to.equal(1);
      if (options.trustedProxies === undefined) {
        // The listener still serves good connections.
        const good = await connect({ host: '127.0.0.1', port });
        good.write(options.proxyProtocol === 'v1' ? V1 : V2);
        await receive(good, (t) => t.endsWith('\n'));
        good.destroy();
        expect(server.accepted).to.have.length(1);
      }
    });
  }

  it("reports through logInfo(…, 'warning') without onProxyError, and an onProxyError that throws is logged", async () => {
    const server = new Server({ map });
    server.bind({ host: '127.0.0.1', port: 0 });
    await server.listen(undefined, { proxyProtocol: 'v2' });
    done = loop({ map, timeout: 50 });
    const port = (server.address() as { port: number }).port;
    const socket = await connect({ host: '127.0.0.1', port });
    socket.write('nope\r\n');
    await untilClosed(socket);
    expect(await within(1_000, () => server.logs.length === 1)).to.equal(true);
    expect(server.logs[0]!.type).to.equal('warning');
    expect(server.logs[0]!.message).to.match(
      /^PROXY protocol \(ERR_DB_PROXY_HEADER\), connection closed: /,
    );

    const throwing = new Server({ map });
    throwing.bind({ host: '127.0.0.1', port: 0 });
    await throwing.listen(undefined, {
      proxyProtocol: 'v2',
      onProxyError: () => {
        throw new Error('observer failed');
      },
    });
    const other = await connect({
      host: '127.0.0.1',
      port: (throwing.address() as { port: number }).port,
    });
    other.write('nope\r\n');
    await untilClosed(other);
    expect(await within(1_000, () => throwing.logs.length === 1)).to.equal(true);
    expect(throwing.logs[0]).to.deep.include({ type: 'error' });
    expect(throwing.logs[0]!.message).to.contain('observer failed');
    expect(throwing.accepting).to.equal(true);
  });

  it('close() destroys the connections still sending their header, and reports nothing', async () => {
    const { server, port, proxyErrors } = await start({
      proxyProtocol: 'v2',
      headerTimeout: 60_000,
    });
    const before = activeResources();
    const socket = await connect({ host: '127.0.0.1', port });
    socket.write(V2.subarray(0, 10));
    const closed = untilClosed(socket);
    // It is accepted by Node and waits for the rest of its header.
    expect(await connectionCount(server, 1)).to.equal(true);
    server.close();
    await closed;
    await new Promise((resolve) => setImmediate(resolve));
    expect(proxyErrors).to.deep.equal([]);
    expect(server.accepted).to.deep.equal([]);
    await done;
    await expectNoLeaks(before);
  });

  it('counts connections still sending their header against the accept queue bound (511 at least)', async () => {
    const { server, port, proxyErrors } = await start({
      proxyProtocol: 'v2',
      headerTimeout: 60_000,
    });
    const silent: net.Socket[] = [];
    try {
      for (let i = 0; i < 511; i++) silent.push(await connect({ host: '127.0.0.1', port }));
      // the listener has every one of them before the one too many
      expect(await connectionCount(server, 511)).to.equal(true);
      expect(map.stats().refused).to.equal(0);
      const extra = await connect({ host: '127.0.0.1', port });
      expect(await untilClosed(extra)).to.equal('');
      expect(await within(1_000, () => map.stats().refused === 1)).to.equal(true);
      expect(proxyErrors).to.deep.equal([]);
    } finally {
      for (const socket of silent) socket.destroy();
    }
  });

  it('gives back every fd and timer after bad-header and stalled-header attacks', async () => {
    const { server, port, proxyErrors } = await start({ proxyProtocol: 'v2', headerTimeout: 100 });
    const before = activeResources();
    const fds = fdCount();
    const attacks: Promise<string>[] = [];
    for (let i = 0; i < 20; i++) {
      for (const bytes of [Buffer.from('GET / HTTP/1.0\r\n\r\n'), null, V2.subarray(0, 9)]) {
        const socket = await connect({ host: '127.0.0.1', port });
        if (bytes !== null) socket.write(bytes);
        attacks.push(untilClosed(socket));
      }
    }
    await Promise.all(attacks);
    expect(await within(2_000, () => proxyErrors.length === 60)).to.equal(true);
    expect(new Set(proxyErrors.map((e) => e.code))).to.deep.equal(
      new Set(['ERR_DB_PROXY_HEADER', 'ERR_DB_PROXY_TIMEOUT']),
    );
    expect(server.accepted).to.deep.equal([]);
    expect(server.accepting).to.equal(true);
    await expectNoLeaks(before);
    expect(fdCount()).to.be.at.most(fds);
  });

  describe('checks its options before anything listens', () => {
    const cases: [unknown, typeof TypeError | typeof RangeError, string][] = [
      ['v2', TypeError, '`options`'],
      [null, TypeError, '`options`'],
      [{ proxyProtocol: 'v3' }, RangeError, '`proxyProtocol`'],
      [{ proxyProtocol: 2 }, TypeError, '`proxyProtocol`'],
      [{ trustedProxies: ['127.0.0.1'] }, TypeError, '`trustedProxies`'],
      [{ headerTimeout: 100 }, TypeError, '`headerTimeout`'],
      [
        { proxyProtocol: 'v2', trustedProxies: ['not an address'] },
        RangeError,
        '`trustedProxies[0]`',
      ],
      [{ proxyProtocol: 'v2', trustedProxies: '127.0.0.1' }, TypeError, '`trustedProxies`'],
      [{ proxyProtocol: 'v2', headerTimeout: 0 }, RangeError, '`headerTimeout`'],
      [{ proxyProtocol: 'v2', headerTimeout: 2 ** 31 }, RangeError, '`headerTimeout`'],
      [{ proxyProtocol: 'v2', headerTimeout: '100' }, TypeError, '`headerTimeout`'],
      [{ proxyProtocol: 'v2', onProxyError: 'log' }, TypeError, '`onProxyError`'],
    ];
    for (const [options, Kind, name] of cases) {
      it(`refuses ${JSON.stringify(options)} with a ${Kind.name} naming ${name}`, async () => {
        const server = new QuietDispatcher({ map });
        server.bind({ host: '127.0.0.1', port: 0 });
        const error = await server.listen(511, options as ListenOptions).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(Kind);
        expect((error as Error).message).to.contain(name);
        // Nothing changed: the dispatcher can still listen.
        expect(server.accepting).to.equal(false);
        expect(server.closed).to.equal(false);
        await server.listen();
        expect(server.accepting).to.equal(true);
        server.close();
      });
    }
  });
});
