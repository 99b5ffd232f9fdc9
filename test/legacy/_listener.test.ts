// The listening side of a Dispatcher: a close() before listening finished, and the peer address
// accept() gives, over loopback.
import { expect } from 'chai';
import net from 'node:net';
import { AbortError } from '../../src/errors.js';
import { SocketMap, loop, type Address } from '../../src/legacy/index.js';
import { activeResources, expectNoLeaks } from '../helpers/leaks.js';
import { QuietDispatcher, connectClient, eventually } from './_support.js';

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Whether a TCP connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('Dispatcher listening (_listener)', () => {
  let map: SocketMap;
  beforeEach(() => {
    map = new SocketMap();
  });
  afterEach(() => map.closeAll());

  it('close() while listen() is starting: listen() rejects with AbortError, nothing listens', async () => {
    const port = await freePort();
    const before = activeResources();
    const server = new QuietDispatcher({ map });
    server.bind({ host: '127.0.0.1', port });
    const listening = server.listen();
    server.close();
    const error = await listening.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).to.be.instanceOf(AbortError);
    expect((error as AbortError).code).to.equal('ERR_DB_ABORTED');
    expect(server.closed).to.equal(true);
    expect(server.accepting).to.equal(false);
    // Binding had been under way: give it every chance to finish, then prove the port is free.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await refused(port)).to.equal(true);
    }
    await expectNoLeaks(before);
  });

  it('close() with a host name to look up: the late bind is closed at once', async () => {
    const port = await freePort();
    const server = new QuietDispatcher({ map });
    server.bind({ host: 'localhost', port });
    const listening = server.listen().catch((reason: unknown) => reason);
    server.close();
    expect(await listening).to.be.instanceOf(AbortError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await refused(port)).to.equal(true);
  });

  it('accept() gives the peer by the one address rule: IPv4 on a dual-stack listener', async () => {
    const seen: Address[] = [];
    class Server extends QuietDispatcher {
      override handleAccept(): void {
        const pair = this.accept();
        if (pair === null) return;
        seen.push(pair.address);
        pair.socket.destroy();
      }
    }
    const server = new Server({ map });
    server.bind({ host: '::', port: 0 });
    await server.listen();
    const { port } = server.address() as { port: number };
    const done = loop({ map });
    const client = await connectClient({ host: '127.0.0.1', port });
    await eventually(() => (seen.length === 1 ? true : undefined));
    expect(seen[0]).to.deep.equal({ host: '127.0.0.1', port: client.localPort, family: 'IPv4' });
    client.destroy();
    server.close();
    await done;
  });

  it("accept() leaves no copy of the peer on the socket (an idle connection's bytes); the socket still reads it", async () => {
    const accepted: net.Socket[] = [];
    class Server extends QuietDispatcher {
      override handleAccept(): void {
        const pair = this.accept();
        if (pair !== null) accepted.push(pair.socket as net.Socket);
      }
    }
    const server = new Server({ map });
    server.bind({ host: '127.0.0.1', port: 0 });
    await server.listen();
    const { port } = server.address() as { port: number };
    const done = loop({ map });
    const client = await connectClient({ host: '127.0.0.1', port });
    const socket = await eventually(() => accepted[0]);
    expect((socket as net.Socket & { _peername?: unknown })._peername).to.equal(undefined);
    expect(socket.remotePort).to.equal(client.localPort);
    socket.destroy();
    client.destroy();
    server.close();
    await done;
  });

  it('accept() returns null when nothing is pending, before and after listening', async () => {
    const server = new QuietDispatcher({ map });
    expect(server.accept()).to.equal(null);
    server.bind({ host: '127.0.0.1', port: 0 });
    await server.listen();
    expect(server.accept()).to.equal(null);
    server.close();
    expect(server.accept()).to.equal(null);
  });
});
