import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  AbortError,
  ConnectionClosedError,
  openConnection,
  Server,
  startServer,
  TimeoutError,
  type ConnectionContext,
  type ServerOptions,
  type StreamHandler,
  type StreamPair,
} from '../../src/modern/index.js';
import { cert, key } from '../helpers/tls-fixtures.js';
import { tick } from '../helpers/async.js';
import { fdCount, halfHandshake, neverReads, slowReader, within } from '../helpers/peers.js';

/** A promise with its resolve function exposed. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const echo: StreamHandler = async (reader, writer) => {
  for await (const line of reader) {
    writer.write(line);
    await writer.drain();
  }
};

describe('startServer()', () => {
  let servers: Server[];
  let clients: StreamPair[];

  beforeEach(() => {
    servers = [];
    clients = [];
  });
  afterEach(async () => {
    for (const { writer } of clients) writer.abort();
    await Promise.all(servers.map((server) => server.shutdown({ timeout: 0 })));
  });

  async function serve(handler: StreamHandler, options: ServerOptions = {}): Promise<Server> {
    const server = await startServer(handler, { host: '127.0.0.1', port: 0, ...options });
    servers.push(server);
    return server;
  }

  async function connect(server: Server): Promise<StreamPair> {
    const address = server.address();
    const pair =
      'path' in address
        ? await openConnection({ path: address.path })
        : await openConnection({ host: address.host, port: address.port });
    clients.push(pair);
    return pair;
  }

  it('serves an echo handler with readLine/write/drain and reports its address', async () => {
    const contexts: ConnectionContext[] = [];
    const server = await serve(async (reader, writer, context) => {
      contexts.push(context);
      await echo(reader, writer, context);
    });
    const address = server.address();
    expect(address).to.include({ host: '127.0.0.1' });
    const { reader, writer } = await connect(server);
    writer.write('ping\n');
    expect((await reader.readLine()).toString()).to.equal('ping\n');
    expect(server.connections).to.equal(1);
    expect(contexts[0]!.id).to.equal(1);
    expect(contexts[0]!.remoteAddress).to.include({ host: '127.0.0.1' });
    expect(contexts[0]!.signal.aborted).to.equal(false);
    // The connection's lifetime is the handler's: end-of-stream ends the loop, the server closes.
    writer.writeEof();
    expect((await reader.read()).length).to.equal(0);
    await writer.waitClosed();
    while (server.connections > 0) await tick();
    expect(contexts[0]!.signal.aborted).to.equal(true);
    expect(contexts[0]!.signal.reason).to.be.instanceOf(ConnectionClosedError);
  });

  it('serves over ::1 too', async () => {
    const server = await serve(echo, { host: '::1' });
    const { reader, writer } = await connect(server);
    writer.write('six\n');
    expect((await reader.readLine()).toString()).to.equal('six\n');
  });

  it('round-trips over a Unix socket path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dispatch-bridge-'));
    try {
      const path = join(dir, 'echo.sock');
      let seen: ConnectionContext | undefined;
      const server = await serve(
        async (reader, writer, context) => {
          seen = context;
          await echo(reader, writer, context);
        },
        { path, host: undefined },
      );
      expect(server.address()).to.deep.equal({ path });
      const { reader, writer } = await connect(server);
      writer.write('unix\n');
      expect((await reader.readLine()).toString()).to.equal('unix\n');
      expect(seen!.remoteAddress).to.deep.equal({ path });
      expect(writer.getExtraInfo('peername')).to.deep.equal({ path });
      await server.shutdown({ timeout: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('round-trips over TLS with the test certificate', async () => {
    const server = await serve(echo, { tls: { key, cert } });
    const { port } = server.address() as { port: number };
    const pair = await openConnection({ host: 'localhost', port, tls: { ca: cert } });
    clients.push(pair);
    pair.writer.write('secret\n');
    expect((await pair.reader.readLine()).toString()).to.equal('secret\n');
    expect(pair.writer.canWriteEof()).to.equal(false);
    const peerCert = pair.writer.getExtraInfo('peercert') as { subject?: { CN?: string } };
    expect(peerCert.subject?.CN).to.equal('localhost');
  });

  it('a handler that throws closes only its own connection and is reported', async () => {
    const reported: [unknown, ConnectionContext | undefined][] = [];
    const onError: [unknown, ConnectionContext][] = [];
    const server = await serve(
      async (reader, writer, context) => {
        const line = (await reader.readLine()).toString();
        if (line === 'boom\n') throw new Error('handler failed');
        writer.write(line);
        await echo(reader, writer, context);
      },
      { onError: (error, context) => onError.push([error, context]) },
    );
    server.on('error', (error, context) => reported.push([error, context]));
    const good = await connect(server);
    const bad = await connect(server);
    bad.writer.write('boom\n');
    expect((await bad.reader.read()).length).to.equal(0); // closed by the server
    expect(reported).to.have.length(1);
    expect((reported[0]![0] as Error).message).to.equal('handler failed');
    expect(reported[0]![1]!.id).to.equal(onError[0]![1].id);
    expect(onError).to.have.length(1);
    good.writer.write('still here\n');
    expect((await good.reader.readLine()).toString()).to.equal('still here\n');
  });

  it('a handler that throws synchronously, with an onError that throws too, is still contained', async () => {
    const reported: unknown[] = [];
    const server = await serve(
      () => {
        throw new Error('sync failure');
      },
      {
        onError: () => {
          throw new Error('onError failed');
        },
      },
    );
    server.on('error', (error) => reported.push(error));
    const { reader } = await connect(server);
    expect((await reader.read()).length).to.equal(0);
    expect(reported.map((e) => (e as Error).message)).to.deep.equal(['sync failure']);
    expect(server.listening).to.equal(true);
  });

  it('a client that fails the TLS handshake affects nothing else', async () => {
    const server = await serve(echo, { tls: { key, cert } });
    const { port } = server.address() as { port: number };
    const raw = net.connect({ host: '127.0.0.1', port });
    raw.on('error', () => undefined);
    raw.end('this is not a TLS client hello\n');
    raw.resume();
    await new Promise((resolve) => raw.once('close', resolve));
    const pair = await openConnection({ host: 'localhost', port, tls: { ca: cert } });
    clients.push(pair);
    pair.writer.write('fine\n');
    expect((await pair.reader.readLine()).toString()).to.equal('fine\n');
  });

  it('shutdown() at its timeout also cuts a TLS client stuck before its handshake', async () => {
    const server = await serve(echo, { tls: { key, cert } });
    const { port } = server.address() as { port: number };
    const raw = net.connect({ host: '127.0.0.1', port });
    raw.on('error', () => undefined);
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.resume();
    const rawClosed = new Promise((resolve) => raw.once('close', resolve));
    await server.shutdown({ timeout: 20 });
    await rawClosed;
    expect(server.connections).to.equal(0);
  });

  it('emits connection with the context of each accepted connection', async () => {
    const server = await serve(echo);
    const ids: number[] = [];
    server.on('connection', (context) => ids.push(context.id));
    await connect(server);
    await connect(server);
    while (ids.length < 2) await tick();
    expect(ids).to.deep.equal([1, 2]);
  });

  it('runs at most `concurrency` handlers at once; later connections wait their turn', async () => {
    let active = 0;
    let maxActive = 0;
    let started = 0;
    const server = await serve(
      async (reader, writer) => {
        started++;
        active++;
        maxActive = Math.max(maxActive, active);
        try {
          const line = await reader.readLine(); // blocks until the test writes
          writer.write(line);
          await writer.drain();
        } finally {
          active--;
        }
      },
      { concurrency: 3 },
    );
    const pairs = await Promise.all(Array.from({ length: 10 }, () => connect(server)));
    for (let i = 0; i < 1000 && started < 3; i++) await tick();
    while (server.connections < 10) await tick();
    for (let i = 0; i < 5; i++) await tick();
    expect(started).to.equal(3); // the other 7 wait their turn, their input buffered
    pairs.forEach(({ writer }, i) => writer.write(`client ${i}\n`));
    const answers = await Promise.all(pairs.map(({ reader }) => reader.readLine()));
    expect(answers.map(String)).to.deep.equal(pairs.map((_, i) => `client ${i}\n`));
    expect(started).to.equal(10);
    expect(maxActive).to.equal(3);
  });

  it('closes connections beyond maxConnections at once', async () => {
    const started = deferred();
    let handled = 0;
    const server = await serve(
      async (reader) => {
        handled++;
        if (handled === 2) started.resolve();
        await reader.read();
      },
      { maxConnections: 2 },
    );
    await connect(server);
    await connect(server);
    await started.promise;
    const extra = await connect(server);
    const result = await extra.reader.read().then(
      (data) => data.length,
      (error: unknown) => error,
    );
    // Refused: end-of-stream, or a reset if the kernel saw it that way.
    if (typeof result === 'number') expect(result).to.equal(0);
    else expect(result).to.be.instanceOf(ConnectionClosedError);
    expect(handled).to.equal(2);
    expect(server.connections).to.equal(2);
  });

  it('closes an idle connection: its signal and reader fail with TimeoutError, nothing reported', async () => {
    const outcome = deferred<unknown>();
    const errors: unknown[] = [];
    let signal: AbortSignal | undefined;
    const server = await serve(
      async (reader, _writer, context) => {
        signal = context.signal;
        await reader.readLine().then(outcome.resolve, outcome.resolve);
      },
      { idleTimeout: 30 },
    );
    server.on('error', (error) => errors.push(error));
    const { reader } = await connect(server);
    const error = await outcome.promise;
    expect(error).to.be.instanceOf(TimeoutError);
    expect(signal!.reason).to.equal(error);
    expect((await reader.read()).length).to.equal(0);
    while (server.connections > 0) await tick();
    expect(errors).to.deep.equal([]);
  });

  it('shutdown() cuts off a handler that ignores its signal once the timeout is up', async () => {
    const release = deferred();
    const started = deferred<ConnectionContext>();
    let finished = false;
    const errors: unknown[] = [];
    const server = await serve(async (_reader, _writer, context) => {
      started.resolve(context);
      await release.promise; // ignores context.signal on purpose
      finished = true;
    });
    server.on('error', (error) => errors.push(error));
    const closed = new Promise<void>((resolve) => server.once('close', resolve));
    const { reader } = await connect(server);
    const context = await started.promise;
    await server.shutdown({ timeout: 30 });
    expect(context.signal.aborted).to.equal(true);
    expect(context.signal.reason).to.be.instanceOf(TimeoutError);
    expect(server.connections).to.equal(0);
    expect(finished).to.equal(false);
    await closed;
    expect((await reader.read()).length).to.equal(0);
    release.resolve();
    await tick();
    expect(finished).to.equal(true);
    expect(errors).to.deep.equal([]);
  });

  it('shutdown() at its timeout also cancels connections still waiting for their turn', async () => {
    const release = deferred();
    let started = 0;
    const server = await serve(
      async () => {
        started++;
        await release.promise;
      },
      { concurrency: 1 },
    );
    const first = await connect(server);
    const second = await connect(server);
    while (server.connections < 2 || started < 1) await tick();
    await server.shutdown({ timeout: 20 });
    expect(server.connections).to.equal(0);
    expect((await first.reader.read()).length).to.equal(0);
    expect((await second.reader.read()).length).to.equal(0);
    release.resolve();
    for (let i = 0; i < 3; i++) await tick();
    expect(started).to.equal(1); // the queued handler never ran
  });

  it('shutdown() waits for handlers that finish in time without aborting them', async () => {
    let signal: AbortSignal | undefined;
    const server = await serve(async (reader, writer, context) => {
      signal = context.signal;
      const line = await reader.readLine();
      writer.write(line);
    });
    const { reader, writer } = await connect(server);
    while (signal === undefined) await tick();
    const shutdown = server.shutdown({ timeout: 10_000 });
    writer.write('last words\n');
    expect((await reader.readLine()).toString()).to.equal('last words\n');
    await shutdown;
    expect(signal.reason).to.be.instanceOf(ConnectionClosedError);
    expect(server.connections).to.equal(0);
  });

  it('close() stops accepting while open connections go on; waitClosed() waits for them', async () => {
    const server = await serve(echo);
    const { reader, writer } = await connect(server);
    writer.write('a\n');
    await reader.readLine();
    const address = server.address();
    server.close();
    expect(server.listening).to.equal(false);
    let closed = false;
    const waiting = server.waitClosed().then(() => (closed = true));
    writer.write('b\n');
    expect((await reader.readLine()).toString()).to.equal('b\n');
    expect(closed).to.equal(false);
    const refused = await openConnection(address as { port: number }).catch((e: unknown) => e);
    expect(refused).to.have.property('code', 'ECONNREFUSED');
    writer.close();
    await waiting;
    expect(closed).to.equal(true);
  });

  it('Symbol.asyncDispose shuts the server down', async () => {
    let server: Server | undefined;
    {
      await using s = await startServer(echo, { host: '127.0.0.1', port: 0 });
      server = s;
      expect(s.listening).to.equal(true);
    }
    expect(server.listening).to.equal(false);
    await server.waitClosed();
  });

  it('rejects bad options with RangeError/TypeError, and a busy port with EADDRINUSE', async () => {
    const server = await serve(echo);
    const { port } = server.address() as { port: number };
    const busy = await startServer(echo, { host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(busy).to.have.property('code', 'EADDRINUSE');
    for (const options of [{ concurrency: 0 }, { maxConnections: -1 }, { limit: 1.5 }]) {
      const error = await startServer(echo, options).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(RangeError);
    }
    const error = await startServer(null as unknown as StreamHandler).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(TypeError);
  });

  it('reads and drains passing context.signal add no abort listener of their own', async () => {
    const counts: number[] = [];
    const server = await serve(async (reader, writer, { signal }) => {
      for (;;) {
        const pending = reader.readLine({ signal });
        counts.push(getEventListeners(signal, 'abort').length);
        const line = await pending;
        if (line.length === 0) return;
        writer.write(line);
        await writer.drain({ signal });
      }
    });
    const { reader, writer } = await connect(server);
    for (const line of ['a\n', 'b\n', 'c\n']) {
      writer.write(line);
      expect((await reader.readLine()).toString()).to.equal(line);
    }
    writer.writeEof();
    expect((await reader.read()).length).to.equal(0);
    expect(counts).to.deep.equal([1, 1, 1, 1]);
  });

  it("a connection's socket holds at most two listeners per event (no listener array grows)", async () => {
    let socket: net.Socket | undefined;
    const server = await serve(async (reader, writer) => {
      socket = writer.getExtraInfo('socket') as net.Socket;
      await reader.readLine();
    });
    const client = await connect(server);
    while (socket === undefined) await tick();
    for (const event of socket.eventNames()) {
      expect(socket.listenerCount(event), String(event)).to.be.at.most(2);
    }
    client.writer.write('bye\n');
  });

  it("a connection's socket has one 'end' listener (Node's own folded into the wire's), and a half-close still ends the reader", async () => {
    let socket: net.Socket | undefined;
    const eof = deferred<Buffer>();
    const server = await serve(async (reader, writer) => {
      socket = writer.getExtraInfo('socket') as net.Socket;
      eof.resolve(await reader.read(100));
      writer.write('after your end\n');
      await writer.drain();
    });
    const client = await connect(server);
    while (socket === undefined) await tick();
    expect(socket.listenerCount('end')).to.equal(1);
    client.writer.writeEof();
    expect((await eof.promise).length).to.equal(0);
    expect((await client.reader.readLine()).toString()).to.equal('after your end\n');
  });

  it("a TCP connection's close comes through the server's one 'close' listener, and still ends everything", async () => {
    let socket: net.Socket | undefined;
    let context: ConnectionContext | undefined;
    const ended = deferred<unknown>();
    const server = await serve(async (reader, writer, ctx) => {
      socket = writer.getExtraInfo('socket') as net.Socket;
      context = ctx;
      await reader.readLine().then(ended.resolve, ended.resolve);
    });
    const client = await connect(server);
    while (socket === undefined) await tick();
    expect(socket.listenerCount('close')).to.equal(1);
    // The peer resets: the reader, the signal and the server's count all learn of the close.
    (client.writer.getExtraInfo('socket') as net.Socket).resetAndDestroy();
    expect(await ended.promise).to.be.instanceOf(ConnectionClosedError);
    expect(await within(2_000, () => server.stats().active === 0)).to.equal(true);
    expect(context!.signal.aborted).to.equal(true);
    expect(context!.signal.reason).to.be.instanceOf(ConnectionClosedError);
  });

  it("context.remoteAddress is the peer's even when first read after the connection closed", async () => {
    const contexts: ConnectionContext[] = [];
    const server = await serve(async (reader, _writer, context) => {
      contexts.push(context);
      await reader.read();
    });
    const client = await connect(server);
    const local = client.writer.getExtraInfo('sockname') as { host: string; port: number };
    while (contexts.length === 0) await tick();
    client.writer.abort();
    expect(await within(2_000, () => server.stats().active === 0)).to.equal(true);
    const [context] = contexts;
    expect(context!.remoteAddress).to.deep.equal({
      host: '127.0.0.1',
      port: local.port,
      family: 'IPv4',
    });
    // Made once: the same object each time.
    expect(context!.remoteAddress).to.equal(context!.remoteAddress);
  });

  it('handlers see an aborted context.signal stop their waits without leaking listeners', async () => {
    let signal: AbortSignal | undefined;
    const result = deferred<unknown>();
    const server = await serve(async (reader, _writer, context) => {
      signal = context.signal;
      await reader.readLine({ signal: context.signal }).then(result.resolve, result.resolve);
    });
    await connect(server);
    while (signal === undefined) await tick();
    expect(getEventListeners(signal, 'abort').length).to.be.at.least(1);
    await server.shutdown({ timeout: 0 });
    const outcome = await result.promise;
    expect(outcome).to.equal(signal.reason);
    expect(getEventListeners(signal, 'abort').length).to.equal(0);
  });
});

describe('startServer(): the connection lifecycle under attack', () => {
  let servers: Server[];
  beforeEach(() => {
    servers = [];
  });
  afterEach(async () => {
    await Promise.all(servers.map((server) => server.shutdown({ timeout: 0 })));
  });

  async function serve(handler: StreamHandler, options: ServerOptions = {}): Promise<Server> {
    const server = await startServer(handler, { host: '127.0.0.1', port: 0, ...options });
    server.on('error', () => undefined);
    servers.push(server);
    return server;
  }
  const portOf = (server: Server): number => (server.address() as { port: number }).port;

  it('a handler that returns never truncates its reply, even with unread input in flight', async function () {
    this.timeout(30_000);
    const reply = Buffer.alloc(32 * 1024 * 1024, 0x72);
    const server = await serve(async (reader, writer) => {
      await reader.readLine(); // the client's 1 MiB after its first line is never read
      writer.write(reply);
    });
    const result = await slowReader(portOf(server), {
      line: 'GET\n',
      send: 1024 * 1024,
      delay: 300,
    });
    expect(result.error).to.equal(undefined);
    expect(result.received).to.equal(reply.length);
  });

  it('a peer that never reads is cut off lingerTimeout after the close; nothing is left behind', async () => {
    const before = fdCount();
    const server = await serve(
      (_reader, writer) => {
        writer.write(Buffer.alloc(8 * 1024 * 1024));
      },
      { lingerTimeout: 100 },
    );
    const peer = await neverReads(portOf(server));
    await new Promise((resolve) => setTimeout(resolve, 50));
    server.close();
    await server.waitClosed();
    expect(server.connections).to.equal(0);
    peer.destroy();
    expect(await within(2_000, () => fdCount() <= before)).to.equal(true);
  });

  it('close() while listening is still starting: startServing() rejects with AbortError and nothing listens', async () => {
    const server = new Server(() => undefined, { host: '127.0.0.1', port: 0 });
    const starting = server.startServing();
    server.close();
    const error = (await starting.then(
      () => null,
      (e: unknown) => e,
    )) as AbortError;
    expect(error).to.be.instanceOf(AbortError);
    expect(error.name).to.equal('AbortError');
    expect(error.code).to.equal('ERR_DB_ABORTED');
    expect(server.listening).to.equal(false);
    expect(() => server.address()).to.throw('not listening');
    await server.waitClosed();
    // And a later start is refused, not silently a server that does not listen.
    const again = await server.startServing().then(
      () => null,
      (e: unknown) => e,
    );
    expect(again).to.be.instanceOf(AbortError);
  });

  it('TLS: clients that stop halfway through the handshake give their fds back at once', async () => {
    const server = await serve(() => undefined, { tls: { key, cert } });
    const port = portOf(server);
    const before = fdCount();
    const attackers: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) attackers.push(halfHandshake(port, i % 2 === 1));
    await Promise.all(attackers);
    // Well within the handshake timeout (10 s): the FIN or reset closed them.
    expect(await within(2_000, () => fdCount() <= before)).to.equal(true);
    const pair = await openConnection({ host: 'localhost', port, tls: { ca: cert } });
    pair.writer.close();
    await pair.writer.waitClosed();
  });

  it('TLS: a stalled handshake is cut off by handshakeTimeout, and shutdown() then finishes', async () => {
    const server = await serve(() => undefined, { tls: { key, cert }, handshakeTimeout: 50 });
    const stalled = await neverReads(portOf(server));
    stalled.resume(); // it reads, so that it sees the server's end
    const closed = new Promise((resolve) => stalled.once('close', resolve));
    await closed;
    await server.shutdown();
  });

  it('idleTimeout counts from when the handler starts, not while it waits for a concurrency slot', async () => {
    const served: string[] = [];
    const server = await serve(
      async (reader, writer) => {
        const line = (await reader.readLine()).toString();
        await new Promise((resolve) => setTimeout(resolve, 150));
        served.push(line);
        writer.write(`done ${line}`);
      },
      { concurrency: 1, idleTimeout: 200 },
    );
    const pairs = await Promise.all(
      [0, 1, 2].map(() => openConnection({ host: '127.0.0.1', port: portOf(server) })),
    );
    pairs.forEach((pair, i) => pair.writer.write(`${i}\n`));
    const replies = await Promise.all(pairs.map((pair) => pair.reader.read()));
    expect(replies.map(String).sort()).to.deep.equal(['done 0\n', 'done 1\n', 'done 2\n']);
    for (const pair of pairs) pair.writer.close();
  });

  it('a concurrency slot is freed when its connection goes, even if the handler never returns', async () => {
    const server = await serve(
      async (reader, writer) => {
        const line = await reader.readLine();
        if (line.toString() === 'hang\n') await new Promise(() => undefined);
        writer.write('served\n');
      },
      { concurrency: 2 },
    );
    const port = portOf(server);
    for (let i = 0; i < 2; i++) {
      const stuck = await openConnection({ host: '127.0.0.1', port });
      stuck.writer.write('hang\n');
      await new Promise((resolve) => setTimeout(resolve, 20));
      (stuck.writer.transport as net.Socket).resetAndDestroy(); // its handler hangs on
    }
    const honest = await openConnection({ host: '127.0.0.1', port });
    honest.writer.write('hello\n');
    expect((await honest.reader.readLine()).toString()).to.equal('served\n');
    honest.writer.close();
  });

  it('idle hoarders of every slot: a new client is refused after queueTimeout, and served once they go', async () => {
    const server = await serve(echo, { concurrency: 2, queueTimeout: 100 });
    const port = portOf(server);
    const hoarders = await Promise.all([neverReads(port), neverReads(port)]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const refused = await openConnection({ host: '127.0.0.1', port });
    refused.writer.write('anyone?\n');
    const started = Date.now();
    expect((await refused.reader.read()).length, 'refused: end-of-stream, no reply').to.equal(0);
    expect(Date.now() - started).to.be.lessThan(2_000);
    refused.writer.close();
    for (const hoarder of hoarders) hoarder.resetAndDestroy();
    const honest = await openConnection({ host: '127.0.0.1', port });
    honest.writer.write('hello\n');
    expect((await honest.reader.readLine()).toString()).to.equal('hello\n');
    honest.writer.close();
  });

  it("a client that leaves during drain() is not a handler error (the README's echo)", async () => {
    const errors: unknown[] = [];
    const server = await serve(echo, { onError: (error) => errors.push(error) });
    server.on('error', (error) => errors.push(error));
    const socket = await neverReads(portOf(server));
    socket.write(`${'x'.repeat(1000)}\n`.repeat(20_000));
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.resetAndDestroy();
    await within(2_000, () => server.connections === 0);
    expect(server.connections).to.equal(0);
    expect(errors).to.deep.equal([]);
  });

  it("an IPv4 client of a '::' listener has one address everywhere: 127.0.0.1, IPv4", async () => {
    const seen: unknown[] = [];
    const server = await serve(
      (_reader, writer, context) => {
        seen.push(context.remoteAddress, writer.getExtraInfo('peername'));
      },
      { host: '::' },
    );
    const pair = await openConnection({ host: '127.0.0.1', port: portOf(server) });
    await pair.reader.read();
    const port = (pair.writer.getExtraInfo('sockname') as { port: number }).port;
    const expected = { host: '127.0.0.1', port, family: 'IPv4' };
    expect(seen).to.deep.equal([expected, expected]);
    pair.writer.close();
  });

  it('a late write from a timer after the client left does not take the process down', async () => {
    let late: unknown = 'not run';
    const server = await serve((_reader, writer) => {
      setTimeout(() => {
        try {
          writer.write('too late\n');
          late = null;
        } catch (error) {
          late = error;
        }
      }, 100);
    });
    const pair = await openConnection({ host: '127.0.0.1', port: portOf(server) });
    pair.writer.abort();
    await within(1_000, () => late !== 'not run');
    expect(late).to.equal(null);
  });

  it('a peer that resets while its handler awaits readLine() is not a handler error', async () => {
    const errors: unknown[] = [];
    let settled = 0;
    const server = await startServer(
      async (reader) => {
        try {
          while ((await reader.readLine()).length > 0);
        } finally {
          settled++;
        }
      },
      { host: '127.0.0.1', port: 0, onError: (error) => errors.push(error) },
    );
    servers.push(server);
    for (let i = 0; i < 5; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: portOf(server) });
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('half a line');
      // The handler waits in readLine() with the half line buffered.
      await new Promise((resolve) => setTimeout(resolve, 20));
      socket.resetAndDestroy();
    }
    expect(await within(2_000, () => settled === 5 && server.connections === 0)).to.equal(true);
    await tick();
    expect(errors).to.deep.equal([]);
    expect(server.stats().handlerErrors).to.equal(0);
  });

  it('a handler error with no listener and no onError is printed to stderr, once', async () => {
    const server = await startServer(
      () => {
        throw new Error('nobody listens');
      },
      { host: '127.0.0.1', port: 0 },
    );
    servers.push(server);
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    try {
      const pair = await openConnection({ host: '127.0.0.1', port: portOf(server) });
      await pair.reader.read();
      pair.writer.close();
    } finally {
      process.stderr.write = write;
    }
    const printed = lines.filter((line) => line.includes('nobody listens'));
    expect(printed).to.have.length(1);
    expect(printed[0]).to.contain('unobserved modern handler error');
  });
});
