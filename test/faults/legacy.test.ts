// Faults on the legacy layer, over loopback: each one affects only its own dispatcher, the right
// handler (handleClose for a disconnect, handleError for a failure) runs on the right side, and
// every socket leaves the map and the process.
import { expect } from 'chai';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import {
  AsyncChat,
  Dispatcher,
  SimpleProducer,
  SocketMap,
  loop,
  type Address,
} from '../../src/legacy/index.js';
import { untilWithin } from '../helpers/async.js';
import { until } from '../helpers/chunkings.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { activeResources, expectNoLeaks, type ResourceCounts } from '../helpers/leaks.js';
import { cert, key } from '../helpers/tls-fixtures.js';

const HOST = '127.0.0.1';

/** Echoes each line; throws from foundTerminator() on the line "boom". */
class LineEcho extends AsyncChat {
  parts: Buffer[] = [];
  closes = 0;
  errors: unknown[] = [];
  constructor(options: { socket: Duplex; map: SocketMap; lingerTimeout?: number }) {
    super(options);
    this.setTerminator('\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.parts.push(data);
  }
  override foundTerminator(): void {
    const line = Buffer.concat(this.parts.splice(0)).toString();
    if (line === 'boom') throw new Error('handler failed on boom');
    this.push(`${line}\n`);
  }
  override handleClose(): void {
    this.closes++;
    this.close();
  }
  override handleError(error: unknown): void {
    this.errors.push(error);
    super.handleError(error);
  }
  override logInfo(): void {}
}

/** Accepts connections (optionally wrapping them in server-side TLS) into `factory`. */
class Listener<T extends Dispatcher> extends Dispatcher {
  readonly accepted: T[] = [];
  constructor(
    map: SocketMap,
    readonly factory: (socket: Duplex, map: SocketMap) => T,
    readonly secure = false,
  ) {
    super({ map });
  }
  override handleAccepted(socket: Duplex, _address: Address): void {
    const transport = this.secure
      ? new tls.TLSSocket(socket, { isServer: true, key, cert })
      : socket;
    this.accepted.push(this.factory(transport, this.map));
  }
  override logInfo(): void {}
}

async function listen<T extends Dispatcher>(
  map: SocketMap,
  factory: (socket: Duplex, map: SocketMap) => T,
  secure = false,
): Promise<{ listener: Listener<T>; port: number }> {
  const listener = new Listener(map, factory, secure);
  listener.bind({ host: HOST, port: 0 });
  await listener.listen();
  const address = listener.address();
  return { listener, port: address !== null && 'port' in address ? address.port : 0 };
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

/** Sends one line and resolves with the first line that comes back. */
function roundTrip(socket: net.Socket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString();
      if (received.includes('\n')) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(received);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`${line}\n`);
  });
}

function untilClosed(socket: Duplex): Promise<{ data: Buffer; error: unknown }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: unknown;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (e) => (error = e));
    socket.once('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}

describe('Faults: legacy layer over loopback', () => {
  let before: ResourceCounts;
  let map: SocketMap;
  let done: Promise<void>;
  const clients: net.Socket[] = [];

  // Async, like afterEach: mocha's own timeout timer for the hook is then active in both snapshots.
  beforeEach(async () => {
    await Promise.resolve();
    before = activeResources();
    map = new SocketMap();
    done = Promise.resolve();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    map.closeAll();
    await done;
    expect(map.size).to.equal(0);
    await expectNoLeaks(before);
  });

  function run(): void {
    done = loop({ map, timeout: Infinity });
  }

  it('a peer reset in the middle of a message is a close of that dispatcher only, never an error', async () => {
    const { listener, port } = await listen(map, (socket, m) => new LineEcho({ socket, map: m }));
    run();
    const good = await rawConnect(port);
    clients.push(good);
    expect(await roundTrip(good, 'hello')).to.equal('hello\n');
    const bad = await rawConnect(port);
    bad.on('error', () => {});
    bad.write('half a mess');
    await until(() => listener.accepted.length === 2);
    const victim = listener.accepted[1]!;
    // The chat has read the half message (it holds it until its terminator).
    await new Promise<void>((resolve) => victim.once('read', () => resolve()));
    bad.resetAndDestroy();
    await until(() => victim.closed);
    // Bytes received before the reset are delivered before the close.
    expect(Buffer.concat(victim.parts).toString()).to.equal('half a mess');
    expect(victim.closes).to.equal(1);
    expect(victim.errors).to.deep.equal([]);
    // Only the victim left the map; the other connection goes on.
    expect(map.has(victim)).to.equal(false);
    expect(map.has(listener.accepted[0]!)).to.equal(true);
    expect(await roundTrip(good, 'still here')).to.equal('still here\n');
    good.end();
    await until(() => listener.accepted[0]!.closed);
    expect(map.size).to.equal(1); // the listener
  });

  it('half-close: the client ends its side and still reads the whole reply', async () => {
    const { listener, port } = await listen(map, (socket, m) => new LineEcho({ socket, map: m }));
    run();
    const client = await rawConnect(port);
    clients.push(client);
    const closed = untilClosed(client);
    client.end('one\ntwo\n');
    const { data, error } = await closed;
    expect(error).to.equal(undefined);
    expect(data.toString()).to.equal('one\ntwo\n');
    const chat = listener.accepted[0]!;
    expect(chat.closes).to.equal(1);
    expect(chat.errors).to.deep.equal([]);
  });

  // Regression: handleClose() runs once per dispatcher, so a closeWhenDone() queued from
  // handleClose() itself (a reply at end-of-stream) reached the once-only guard, never closed, and
  // the loop spun on the dispatcher's end-of-stream forever.
  for (const transport of ['loopback', 'in-memory duplex'] as const) {
    it(`half-close: a reply pushed from handleClose() with closeWhenDone() arrives, then the chat closes (${transport})`, async () => {
      class Summary extends AsyncChat {
        total = 0;
        closes = 0;
        override collectIncomingData(data: Buffer): void {
          this.total += data.length;
        }
        override foundTerminator(): void {}
        override handleClose(): void {
          this.closes++;
          this.push(`got ${this.total} bytes\n`);
          this.closeWhenDone();
        }
        override logInfo(): void {}
      }
      let client: Duplex;
      let chat: () => Summary;
      if (transport === 'loopback') {
        const { listener, port } = await listen(
          map,
          (socket, m) => new Summary({ socket, map: m }),
        );
        client = await rawConnect(port);
        clients.push(client as net.Socket);
        chat = () => listener.accepted[0]!;
      } else {
        const [a, b] = duplexPair({ allowHalfOpen: true });
        const summary = new Summary({ socket: b, map });
        client = a;
        chat = () => summary;
      }
      run();
      const closed = untilClosed(client);
      client.end('hello');
      const { data, error } = await closed;
      expect(error).to.equal(undefined);
      expect(data.toString()).to.equal('got 5 bytes\n');
      await until(() => chat().closed);
      expect(chat().closes).to.equal(1);
    });
  }

  it('a refused connect() reaches handleError() with ECONNREFUSED, then handleClose() once', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, HOST, resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const calls: string[] = [];
    let failure: unknown;
    class Client extends Dispatcher {
      override handleConnect(): void {
        calls.push('connect');
      }
      override handleError(error: unknown): void {
        calls.push('error');
        failure = error;
        super.handleError(error);
      }
      override handleClose(): void {
        calls.push('close');
        this.close();
      }
      override logInfo(): void {}
    }
    const client = new Client({ map });
    client.connect({ host: HOST, port });
    await loop({ map, timeout: Infinity });
    expect((failure as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
    expect(calls).to.deep.equal(['error', 'close']);
    expect(client.closed).to.equal(true);
  });

  it('a TLS handshake failure reaches the client; the server serves the next good client', async () => {
    const { listener, port } = await listen(
      map,
      (socket, m) => new LineEcho({ socket, map: m }),
      true,
    );
    run();
    let failure: unknown;
    class Untrusting extends Dispatcher {
      override handleError(error: unknown): void {
        failure = error;
        super.handleError(error);
      }
      override handleConnect(): void {}
      override logInfo(): void {}
    }
    // The client does not trust the self-signed certificate.
    const untrusting = new Untrusting({
      socket: tls.connect({ host: HOST, port, servername: 'localhost' }),
      map,
    });
    await until(() => untrusting.closed);
    expect((failure as NodeJS.ErrnoException).code).to.match(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/);
    // The server side of that connection closes without taking anything else down.
    await until(() => listener.accepted.length === 1 && listener.accepted[0]!.closed);
    // For the server the client's abort of the handshake is a disconnect: a close, once.
    expect(listener.accepted[0]!.errors).to.deep.equal([]);
    expect(listener.accepted[0]!.closes).to.equal(1);
    const good = tls.connect({ host: HOST, port, ca: cert, servername: 'localhost' });
    try {
      await new Promise<void>((resolve, reject) => {
        good.once('secureConnect', resolve);
        good.once('error', reject);
      });
      const reply = new Promise<string>((resolve) =>
        good.once('data', (d: Buffer) => resolve(String(d))),
      );
      good.write('over tls\n');
      expect(await reply).to.equal('over tls\n');
    } finally {
      good.destroy();
    }
    await until(() => listener.accepted[1]?.closed === true);
    expect(listener.accepted[1]!.errors).to.deep.equal([]);
    expect(listener.closed).to.equal(false);
  });

  it('a handler that throws goes to handleError() of that dispatcher only, which closes it', async () => {
    const { listener, port } = await listen(map, (socket, m) => new LineEcho({ socket, map: m }));
    run();
    const good = await rawConnect(port);
    clients.push(good);
    expect(await roundTrip(good, 'first')).to.equal('first\n');
    const bad = await rawConnect(port);
    clients.push(bad);
    const closed = untilClosed(bad);
    bad.write('ok\nboom\nnever echoed\n');
    const { data } = await closed;
    expect(data.toString()).to.equal('ok\n');
    const victim = listener.accepted[1]!;
    expect(victim.errors).to.have.length(1);
    expect((victim.errors[0] as Error).message).to.equal('handler failed on boom');
    expect(victim.closes).to.equal(1);
    expect(listener.accepted[0]!.errors).to.deep.equal([]);
    expect(await roundTrip(good, 'second')).to.equal('second\n');
  });

  it('a producer that throws (or returns a non-bytes piece) fails only its own chat, after what it already sent', async () => {
    const failures = [new Error('producer broke'), 42];
    class Streamer extends LineEcho {
      override foundTerminator(): void {
        this.parts.length = 0;
        // The third piece fails: thrown, or not bytes at all.
        const failure = failures[listener.accepted.indexOf(this)]!;
        let calls = 0;
        this.pushWithProducer({
          more: () => {
            calls++;
            if (calls <= 2) return `piece ${calls}\n`;
            if (failure instanceof Error) throw failure;
            return failure as unknown as string;
          },
        });
      }
    }
    const { listener, port } = await listen(map, (socket, m) => new Streamer({ socket, map: m }));
    run();
    for (const failure of failures) {
      const client = await rawConnect(port);
      clients.push(client);
      const closed = untilClosed(client);
      client.write('go\n');
      const { data } = await closed;
      expect(data.toString()).to.equal('piece 1\npiece 2\n');
      const chat = listener.accepted.at(-1)!;
      expect(chat.errors).to.have.length(1);
      if (failure instanceof Error) expect(chat.errors[0]).to.equal(failure);
      else expect(chat.errors[0]).to.be.instanceOf(TypeError);
      expect(chat.closes).to.equal(1);
    }
    expect(listener.closed).to.equal(false);
    expect(map.size).to.equal(1);
  });

  for (const ending of ['closeAll()', 'a peer reset'] as const) {
    it(`a slow reader that never reads: output waits in the queue, memory stays bounded, ${ending} cleans up`, async () => {
      const body = Buffer.alloc(32 * 1024 * 1024, 'y');
      class Flood extends LineEcho {
        override handleConnect(): void {}
      }
      const { listener, port } = await listen(map, (socket, m) => {
        const chat = new Flood({ socket, map: m, lingerTimeout: 200 });
        chat.pushWithProducer(new SimpleProducer(body, 65536));
        return chat;
      });
      run();
      const sleeper = await rawConnect(port);
      clients.push(sleeper);
      const closed = untilClosed(sleeper);
      sleeper.pause();
      await until(() => listener.accepted.length === 1);
      const chat = listener.accepted[0]!;
      const transport = chat.socket!;
      // Congested for 200 event-loop turns in a row: the peer's buffers are full.
      let streak = 0;
      await until(() => (streak = transport.writableNeedDrain ? streak + 1 : 0) >= 200, 200_000);
      expect(chat.outgoingQueueLength).to.be.greaterThan(0);
      // What the chat handed to the transport is bounded by one send, not by the 32 MiB body.
      expect(transport.writableLength).to.be.at.most(transport.writableHighWaterMark + 65536);
      if (ending === 'closeAll()') {
        map.closeAll();
        await done;
        // The close lingers to flush the rest to a peer that never reads: lingerTimeout bounds it.
        await untilWithin(10_000, () => transport.destroyed);
        sleeper.destroy();
      } else {
        sleeper.on('error', () => {});
        sleeper.resetAndDestroy();
        await until(() => chat.closed);
        // Only the listener is left: a reset is a close of that dispatcher, never an error.
        expect(map.size).to.equal(1);
      }
      expect(chat.closes).to.equal(1);
      expect(chat.errors).to.deep.equal([]);
      expect(transport.destroyed || transport.writableEnded).to.equal(true);
      await closed;
    });
  }
});
