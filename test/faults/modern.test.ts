// Faults on the modern layer, over loopback: each one affects only its own connection, the right
// error type reaches the right side, and every socket, timer and connection entry is released.
import { expect } from 'chai';
import net from 'node:net';
import {
  ConnectionClosedError,
  TimeoutError,
  openConnection,
  startServer,
  type ConnectionContext,
  type Server,
  type StreamHandler,
  type StreamReader,
  type StreamWriter,
} from '../../src/modern/index.js';
import { until } from '../helpers/chunkings.js';
import { activeResources, expectNoLeaks, type ResourceCounts } from '../helpers/leaks.js';
import { cert, key } from '../helpers/tls-fixtures.js';

const HOST = '127.0.0.1';

/** Echoes lines until end-of-stream. */
async function echoLines(reader: StreamReader, writer: StreamWriter): Promise<void> {
  for (;;) {
    const line = await reader.readLine();
    if (line.length === 0) return;
    writer.write(line);
    await writer.drain();
  }
}

function portOf(server: Server): number {
  const address = server.address();
  return 'port' in address ? address.port : 0;
}

/** One line round trip on a fresh connection: proves the server still serves. */
async function pingPong(port: number, tls?: { ca: string | Buffer }): Promise<void> {
  const { reader, writer } = await openConnection({
    host: HOST,
    port,
    ...(tls ? { tls: { ...tls, servername: 'localhost' } } : {}),
  });
  try {
    writer.write('ping\n');
    expect((await reader.readLine()).toString()).to.equal('ping\n');
  } finally {
    writer.close();
    await writer.waitClosed();
  }
}

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves when `socket` has closed, with everything it received. */
function drainUntilClosed(socket: net.Socket): Promise<{ data: Buffer; error: unknown }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: unknown;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (e) => (error = e));
    socket.once('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}

describe('Faults: modern layer over loopback', () => {
  let before: ResourceCounts;
  let server: Server | undefined;
  let errors: Array<{ error: unknown; context: ConnectionContext | undefined }>;

  async function serve(
    handler: StreamHandler,
    options: Parameters<typeof startServer>[1] = {},
  ): Promise<Server> {
    server = await startServer(handler, { host: HOST, port: 0, ...options });
    server.on('error', (error, context) => errors.push({ error, context }));
    return server;
  }

  // Async, like afterEach: mocha's own timeout timer for the hook is then active in both snapshots.
  beforeEach(async () => {
    await Promise.resolve();
    before = activeResources();
    server = undefined;
    errors = [];
  });

  afterEach(async () => {
    if (server !== undefined) {
      await server.shutdown({ timeout: 1_000 });
      expect(server.connections).to.equal(0);
    }
    await expectNoLeaks(before);
  });

  it('a peer reset in the middle of a line fails only that handler, with ConnectionClosedError, and is not reported', async () => {
    const failures: unknown[] = [];
    const readers: StreamReader[] = [];
    const s = await serve(async (reader, writer) => {
      readers.push(reader);
      try {
        await echoLines(reader, writer);
      } catch (error) {
        failures.push(error);
        throw error;
      }
    });
    const port = portOf(s);
    const good = await openConnection({ host: HOST, port });
    const bad = await rawConnect(port);
    bad.on('error', () => {});
    bad.write('half a mess');
    await until(() => readers.some((r) => r.bufferedLength === 'half a mess'.length));
    bad.resetAndDestroy();
    await until(() => failures.length === 1);
    const failure = failures[0];
    expect(failure).to.be.instanceOf(ConnectionClosedError);
    expect(((failure as Error).cause as NodeJS.ErrnoException).code).to.equal('ECONNRESET');
    // A peer going away is not a handler error (DESIGN): nothing is reported, and the other
    // connection goes on.
    good.writer.write('still here\n');
    expect((await good.reader.readLine()).toString()).to.equal('still here\n');
    good.writer.close();
    await good.writer.waitClosed();
    await until(() => s.connections === 0);
    expect(errors).to.deep.equal([]);
  });

  it('half-close: the client writes end-of-stream and still reads the whole reply', async () => {
    const s = await serve(async (reader, writer) => {
      const request = await reader.read(); // until end-of-stream
      writer.write(`got ${request.length} bytes: ${request.toString().toUpperCase()}`);
      await writer.drain();
    });
    const { reader, writer } = await openConnection({ host: HOST, port: portOf(s) });
    writer.write('hello');
    expect(writer.canWriteEof()).to.equal(true);
    writer.writeEof();
    expect((await reader.read()).toString()).to.equal('got 5 bytes: HELLO');
    expect(reader.atEof()).to.equal(true);
    writer.close();
    await writer.waitClosed();
    await until(() => s.connections === 0);
    expect(errors).to.deep.equal([]);
  });

  it('a refused connection rejects openConnection() with ECONNREFUSED and leaves no socket', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, HOST, resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    let caught: unknown;
    try {
      await openConnection({ host: HOST, port });
    } catch (error) {
      caught = error;
    }
    expect((caught as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });

  it('a TLS handshake failure rejects on the client; the server serves the next good client', async () => {
    let handled = 0;
    const s = await serve(
      async (reader, writer) => {
        handled++;
        await echoLines(reader, writer);
      },
      { tls: { key, cert } },
    );
    const port = portOf(s);
    let caught: unknown;
    try {
      // The client does not trust the self-signed certificate.
      await openConnection({ host: HOST, port, tls: { servername: 'localhost' } });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(Error);
    expect((caught as NodeJS.ErrnoException).code).to.match(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(handled, 'no handler runs for a failed handshake').to.equal(0);
    await pingPong(port, { ca: cert });
    expect(handled).to.equal(1);
    await until(() => s.connections === 0);
    expect(errors).to.deep.equal([]);
  });

  it('a handler that throws synchronously closes only its connection and is reported', async () => {
    const boom = new Error('sync boom');
    const reported: unknown[] = [];
    const s = await serve(
      (reader, writer, context) => {
        if (context.id === 1) throw boom;
        return echoLines(reader, writer);
      },
      { onError: (error) => reported.push(error) },
    );
    const port = portOf(s);
    const victim = await rawConnect(port);
    const { data, error } = await drainUntilClosed(victim);
    expect(data.length).to.equal(0);
    expect(error).to.equal(undefined);
    expect(reported).to.deep.equal([boom]);
    expect(errors).to.have.length(1);
    expect(errors[0]!.error).to.equal(boom);
    expect(errors[0]!.context?.id).to.equal(1);
    await pingPong(port);
    await until(() => s.connections === 0);
  });

  it('a handler that rejects later closes only its connection and is reported', async () => {
    const s = await serve(async (reader, writer, context) => {
      if (context.id === 1) {
        await reader.readLine();
        throw new RangeError('rejected after reading a line');
      }
      await echoLines(reader, writer);
    });
    const port = portOf(s);
    const victim = await openConnection({ host: HOST, port });
    victim.writer.write('first\n');
    // The victim sees end-of-stream and nothing else.
    expect((await victim.reader.read()).length).to.equal(0);
    expect(victim.reader.atEof()).to.equal(true);
    victim.writer.close();
    await victim.writer.waitClosed();
    expect(errors).to.have.length(1);
    expect(errors[0]!.error).to.be.instanceOf(RangeError);
    await pingPong(port);
    await until(() => s.connections === 0);
  });

  it('handlers that never return are cut off by shutdown({ timeout }) with a TimeoutError signal', async () => {
    const contexts: ConnectionContext[] = [];
    let observed: unknown;
    const s = await serve(async (reader, _writer, context) => {
      contexts.push(context);
      if (context.id === 1) {
        // Ignores its signal entirely.
        await new Promise<never>(() => {});
      }
      try {
        await reader.readLine({ signal: context.signal });
      } catch (error) {
        observed = error;
        throw error;
      }
    });
    const port = portOf(s);
    const deaf = await rawConnect(port);
    const polite = await rawConnect(port);
    const closed = [drainUntilClosed(deaf), drainUntilClosed(polite)];
    await until(() => contexts.length === 2);
    await s.shutdown({ timeout: 20 });
    server = undefined;
    await Promise.all(closed);
    expect(s.connections).to.equal(0);
    for (const context of contexts) {
      expect(context.signal.aborted).to.equal(true);
      expect(context.signal.reason).to.be.instanceOf(TimeoutError);
    }
    expect(observed).to.equal(contexts[1]!.signal.reason);
    // A handler that let its own cancellation propagate is not an error.
    expect(errors).to.deep.equal([]);
  });

  it('with concurrency 1, a hung handler holds the queue; shutdown cuts it and never starts the queued one', async () => {
    const started: number[] = [];
    const s = await serve(
      async (_reader, _writer, context) => {
        started.push(context.id);
        await new Promise<never>(() => {});
      },
      { concurrency: 1 },
    );
    const port = portOf(s);
    const first = await rawConnect(port);
    const second = await rawConnect(port);
    const closed = [drainUntilClosed(first), drainUntilClosed(second)];
    await until(() => started.length === 1 && s.connections === 2);
    await s.shutdown({ timeout: 20 });
    server = undefined;
    await Promise.all(closed);
    expect(started).to.deep.equal([1]);
    expect(s.connections).to.equal(0);
    expect(errors).to.deep.equal([]);
  });

  for (const ending of ['shutdown()', 'a peer reset'] as const) {
    it(`a slow reader that never drains: drain() waits, memory stays bounded, ${ending} cleans up`, async () => {
      const chunk = Buffer.alloc(64 * 1024, 'z');
      let waiting = false;
      let drainError: unknown;
      let buffered = 0;
      let transportHighWaterMark = 0;
      const s = await serve(async (_reader, writer) => {
        // 16 KiB on Node 20, 64 KiB on Node 22: the bound below is stated in the socket's own.
        transportHighWaterMark = (writer.getExtraInfo('socket') as net.Socket)
          .writableHighWaterMark;
        try {
          for (let i = 0; i < 10_000; i++) {
            writer.write(chunk);
            buffered = Math.max(buffered, writer.bufferedLength);
            waiting = true;
            await writer.drain();
            waiting = false;
          }
        } catch (error) {
          drainError = error;
        }
      });
      const sleeper = await rawConnect(portOf(s));
      const closed = drainUntilClosed(sleeper);
      sleeper.pause(); // never reads: its socket buffers fill up, then the server's
      // drain() keeps waiting once the peer's buffers are full: 200 event-loop turns in a row.
      let streak = 0;
      await until(() => (streak = waiting ? streak + 1 : 0) >= 200, 200_000);
      expect(drainError).to.equal(undefined);
      // The writer never holds much more than one chunk plus the transport's high-water mark.
      expect(transportHighWaterMark).to.be.above(0);
      expect(buffered).to.be.at.most(2 * chunk.length + transportHighWaterMark);
      if (ending === 'shutdown()') {
        await s.shutdown({ timeout: 10 });
        server = undefined;
        sleeper.resume();
      } else {
        sleeper.on('error', () => {});
        sleeper.resetAndDestroy();
      }
      await until(() => drainError !== undefined);
      expect(drainError).to.be.instanceOf(ConnectionClosedError);
      await closed;
      await until(() => s.connections === 0);
      expect(errors).to.deep.equal([]);
    });
  }

  it('a client that connects and sends nothing is cut off by idleTimeout; others are served', async () => {
    const reasons: unknown[] = [];
    const s = await serve(
      async (reader, writer, context) => {
        try {
          await echoLines(reader, writer);
        } finally {
          if (context.signal.aborted) reasons.push(context.signal.reason);
        }
      },
      { idleTimeout: 30 },
    );
    const port = portOf(s);
    const idle = await rawConnect(port);
    const { data } = await drainUntilClosed(idle);
    expect(data.length).to.equal(0);
    await until(() => reasons.length === 1);
    expect(reasons[0]).to.be.instanceOf(TimeoutError);
    // The idle connection's failure is its own cancellation: not reported as a handler error.
    expect(errors).to.deep.equal([]);
    await pingPong(port);
    await until(() => s.connections === 0);
  });

  it('a client that connects to a TLS server and never starts the handshake is cut off by handshakeTimeout', async () => {
    let handled = 0;
    const s = await serve(
      async (reader, writer) => {
        handled++;
        await echoLines(reader, writer);
      },
      // Long enough for an honest handshake on a loaded machine, short for a test.
      { tls: { key, cert }, handshakeTimeout: 300 },
    );
    const port = portOf(s);
    const silent = await rawConnect(port);
    const { data } = await drainUntilClosed(silent);
    expect(data.length).to.equal(0);
    expect(handled).to.equal(0);
    await pingPong(port, { ca: cert });
    expect(handled).to.equal(1);
    expect(errors).to.deep.equal([]);
  });

  it('openConnection({ tls, timeout }) to a server that never answers the handshake rejects with TimeoutError', async () => {
    const accepted: net.Socket[] = [];
    const mute = net.createServer((socket) => {
      accepted.push(socket);
      socket.resume(); // reads (nothing) so that it sees the client's end-of-stream
    });
    await new Promise<void>((resolve) => mute.listen(0, HOST, resolve));
    const { port } = mute.address() as net.AddressInfo;
    try {
      let caught: unknown;
      try {
        await openConnection({
          host: HOST,
          port,
          tls: { ca: cert, servername: 'localhost' },
          timeout: 30,
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(TimeoutError);
      // The client destroyed its socket: the server side sees it close.
      await until(() => accepted.length === 1 && accepted[0]!.closed);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => mute.close(resolve));
    }
  });
});
