import { execFile } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { startMixedServer } from '../../src/adapter/index.js';
import {
  AsyncChat,
  Dispatcher,
  SocketMap,
  loop,
  type AsyncChatOptions,
} from '../../src/legacy/index.js';
import type { Duplex } from 'node:stream';
import { openConnection, startServer, type StreamHandler } from '../../src/modern/index.js';
import { within } from '../helpers/peers.js';
import { isObserved } from '../../src/_core/observe.js';

const run = promisify(execFile);

const CHANNELS = [
  'dispatch-bridge:slow-handler',
  'dispatch-bridge:connection:open',
  'dispatch-bridge:connection:close',
  'dispatch-bridge:handler:error',
  'dispatch-bridge:route',
  'dispatch-bridge:shadow:divergence',
  'dispatch-bridge:shadow:drop',
];

type Message = { id: number; layer: string } & Record<string, unknown>;

/** Subscribes to every channel; returns the messages by channel and an unsubscribe. */
function listen(): { seen: Map<string, Message[]>; stop(): void } {
  const seen = new Map<string, Message[]>();
  const subscribers: [string, (message: unknown) => void][] = [];
  for (const name of CHANNELS) {
    seen.set(name, []);
    const subscriber = (message: unknown): void => void seen.get(name)!.push(message as Message);
    diagnostics.subscribe(name, subscriber);
    subscribers.push([name, subscriber]);
  }
  return {
    seen,
    stop: () => {
      for (const [name, subscriber] of subscribers) diagnostics.unsubscribe(name, subscriber);
    },
  };
}

const echo: StreamHandler = async (reader, writer) => {
  for await (const line of reader) {
    if (line.toString() === 'boom\n') throw new Error('boom');
    writer.write(line);
    await writer.drain();
  }
};

class LegacyEcho extends AsyncChat {
  #parts: Buffer[] = [];
  constructor(options: AsyncChatOptions) {
    super(options);
    this.setTerminator('\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }
  override foundTerminator(): void {
    // Diverges from the modern echo on purpose: the shadow comparison reports it.
    this.push(`${Buffer.concat(this.#parts.splice(0)).toString()}!\n`);
  }
}

describe('isObserved()', () => {
  it('is true only while a channel has a subscriber (the debug log being off)', () => {
    const channel = diagnostics.channel('dispatch-bridge:test:is-observed');
    expect(isObserved(channel)).to.equal(false);
    const subscriber = (): void => undefined;
    channel.subscribe(subscriber);
    expect(isObserved(channel)).to.equal(true);
    channel.unsubscribe(subscriber);
    expect(isObserved(channel)).to.equal(false);
  });
});

describe('observability: diagnostics channels and NODE_DEBUG', () => {
  it('a modern connection publishes open, handler error and close with its id and layer', async () => {
    const subscription = listen();
    const { seen } = subscription;
    const server = await startServer(echo, {
      host: '127.0.0.1',
      port: 0,
      onError: () => undefined,
    });
    try {
      const { port } = server.address() as { port: number };
      const pair = await openConnection({ host: '127.0.0.1', port });
      pair.writer.write('hi\nboom\n');
      expect((await pair.reader.readLine()).toString()).to.equal('hi\n');
      expect((await pair.reader.read()).length).to.equal(0);
      pair.writer.close();
      await within(2_000, () => seen.get('dispatch-bridge:connection:close')!.length === 1);
      const [open] = seen.get('dispatch-bridge:connection:open')!;
      expect(open).to.include({ id: 1, layer: 'modern' });
      expect(open!.remoteAddress).to.include({ host: '127.0.0.1', family: 'IPv4' });
      const [error] = seen.get('dispatch-bridge:handler:error')!;
      expect(error).to.include({ id: 1, layer: 'modern' });
      expect((error!.error as Error).message).to.equal('boom');
      const [close] = seen.get('dispatch-bridge:connection:close')!;
      expect(close).to.include({ id: 1, layer: 'modern', bytesIn: 8, bytesOut: 3 });
      expect(server.stats()).to.deep.include({
        accepted: 1,
        active: 0,
        closed: 1,
        handlerErrors: 1,
        bytesIn: 8,
        bytesOut: 3,
      });
    } finally {
      subscription.stop();
      await server.shutdown({ timeout: 0 });
    }
  });

  it('a mixed connection in shadow mode publishes its route and the divergence', async () => {
    const subscription = listen();
    const { seen } = subscription;
    const server = await startMixedServer({
      legacy: LegacyEcho,
      modern: echo,
      route: 'modern',
      shadow: true,
      host: '127.0.0.1',
      port: 0,
    });
    try {
      const { port } = server.address() as { port: number };
      const pair = await openConnection({ host: '127.0.0.1', port });
      pair.writer.write('hi\n');
      expect((await pair.reader.readLine()).toString()).to.equal('hi\n');
      pair.writer.close();
      await within(2_000, () => seen.get('dispatch-bridge:shadow:divergence')!.length === 1);
      expect(seen.get('dispatch-bridge:route')).to.deep.equal([
        {
          id: 1,
          layer: 'mixed',
          implementation: 'modern',
          shadow: 'legacy',
          remoteAddress: (seen.get('dispatch-bridge:route')![0] as Message).remoteAddress,
        },
      ]);
      const [divergence] = seen.get('dispatch-bridge:shadow:divergence')!;
      expect(divergence).to.include({ id: 1, layer: 'mixed', offset: 2 });
      await within(2_000, () => server.connections === 0);
      const stats = server.stats();
      expect(stats.modern.routed).to.equal(1);
      expect(stats.legacy.routed).to.equal(0);
      expect(stats.divergences).to.equal(1);
      expect(seen.get('dispatch-bridge:connection:open')![0]).to.include({ id: 1, layer: 'mixed' });
    } finally {
      subscription.stop();
      await server.shutdown({ timeout: 0 });
    }
  });

  it('a legacy connection publishes open, handler error, slow handler and close; SocketMap.stats() agrees', async () => {
    const subscription = listen();
    const { seen } = subscription;
    const map = new SocketMap();
    class Slow extends AsyncChat {
      constructor(options: AsyncChatOptions) {
        super(options);
        this.setTerminator('\n');
      }
      override collectIncomingData(): void {}
      override foundTerminator(): void {
        const until = performance.now() + 30;
        while (performance.now() < until); // a handler that blocks the loop
        throw new Error('legacy boom');
      }
      warnings: string[] = [];
      override logInfo(message: string, type?: string): void {
        if (type === 'warning') this.warnings.push(message);
      }
    }
    const chats: Slow[] = [];
    class Listener extends Dispatcher {
      override handleAccepted(socket: Duplex): void {
        chats.push(new Slow({ socket, map: this.map }));
      }
    }
    const listener = new Listener({ map });
    listener.bind({ host: '127.0.0.1', port: 0 });
    await listener.listen();
    const running = loop({ map, slowHandlerMs: 10 });
    try {
      const { port } = listener.address() as { port: number };
      const pair = await openConnection({ host: '127.0.0.1', port });
      pair.writer.write('go\n');
      expect((await pair.reader.read()).length).to.equal(0); // the default handleError closed it
      pair.writer.close();
      await within(2_000, () => seen.get('dispatch-bridge:connection:close')!.length === 1);
      const [open] = seen.get('dispatch-bridge:connection:open')!;
      expect(open).to.include({ layer: 'legacy', dispatcher: 'Slow' });
      const id = open!.id;
      expect(seen.get('dispatch-bridge:handler:error')![0]).to.include({ id, layer: 'legacy' });
      const slow = seen.get('dispatch-bridge:slow-handler')!.find((m) => m.id === id);
      expect(slow).to.include({ layer: 'legacy', dispatcher: 'Slow', handler: 'handleRead' });
      expect(slow!.ms).to.be.greaterThan(10);
      expect(
        chats[0]!.warnings.some((w) => w.startsWith('slow handler: Slow.handleRead()')),
      ).to.equal(true);
      expect(seen.get('dispatch-bridge:connection:close')![0]).to.include({
        id,
        layer: 'legacy',
        bytesIn: 3,
      });
      expect(map.stats()).to.deep.include({
        accepted: 1,
        active: 0,
        closed: 1,
        handlerErrors: 1,
        bytesIn: 3,
      });
    } finally {
      subscription.stop();
      map.closeAll();
      await running;
    }
  });

  it('stats() counts the open connections and their bytes while they are open, then each once closed (modern server, legacy map)', async () => {
    const server = await startServer(echo, { host: '127.0.0.1', port: 0 });
    const map = new SocketMap();
    class Accepting extends Dispatcher {
      override handleAccepted(socket: Duplex): void {
        new LegacyEcho({ socket, map: this.map });
      }
    }
    const listener = new Accepting({ map });
    listener.bind({ host: '127.0.0.1', port: 0 });
    await listener.listen();
    const running = loop({ map });
    try {
      for (const [stats, port] of [
        [() => server.stats(), (server.address() as { port: number }).port],
        [() => map.stats(), (listener.address() as { port: number }).port],
      ] as const) {
        const first = await openConnection({ host: '127.0.0.1', port });
        const second = await openConnection({ host: '127.0.0.1', port });
        first.writer.write('abc\n');
        await first.reader.readLine();
        second.writer.write('de\n');
        await second.reader.readLine();
        // Open: counted from the sockets themselves (the listener of the map is no connection).
        expect(stats()).to.include({ accepted: 2, active: 2, closed: 0, bytesIn: 7 });
        first.writer.close();
        await within(2_000, () => stats().closed === 1);
        expect(stats()).to.include({ accepted: 2, active: 1, bytesIn: 7 });
        second.writer.close();
        await within(2_000, () => stats().closed === 2);
        expect(stats()).to.include({ accepted: 2, active: 0, bytesIn: 7 });
      }
    } finally {
      map.closeAll();
      await running;
      await server.shutdown({ timeout: 0 });
    }
  });

  it('NODE_DEBUG=dispatch-bridge prints one line per lifecycle event', async function () {
    this.timeout(30_000);
    const script = `
      import { openConnection, startServer } from './src/modern/index.ts';
      const server = await startServer(async (r, w) => { w.write(await r.readLine()); }, { host: '127.0.0.1', port: 0 });
      const pair = await openConnection({ host: '127.0.0.1', port: server.address().port });
      pair.writer.write('x\\n');
      await pair.reader.readLine();
      pair.writer.close();
      await server.shutdown();
    `;
    const { stderr } = await run(
      process.execPath,
      ['--import', './scripts/ts-register.mjs', '--input-type=module', '-e', script],
      { env: { ...process.env, NODE_DEBUG: 'dispatch-bridge' }, cwd: process.cwd() },
    );
    const lines = stderr.split('\n').filter((line) => line.startsWith('DISPATCH-BRIDGE'));
    expect(
      lines.some((line) => / open id=1 layer=modern remoteAddress=127\.0\.0\.1:\d+/.test(line)),
    ).to.equal(true);
    expect(
      lines.some((line) => / close id=1 layer=modern bytesIn=2 bytesOut=2/.test(line)),
    ).to.equal(true);
  });
});
