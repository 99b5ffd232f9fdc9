import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { expect } from 'chai';
import {
  MixedServer,
  startMixedServer,
  type DivergenceReport,
  type LegacyHandlerOptions,
  type MixedErrorInfo,
  type MixedServerOptions,
  type RouteEvent,
  type ShadowDropReport,
} from '../../src/adapter/index.js';
import { AsyncChat, DispatcherWithSend, type AsyncChatOptions } from '../../src/legacy/index.js';
import {
  AbortError,
  openConnection,
  TimeoutError,
  type StreamHandler,
} from '../../src/modern/index.js';
import { fdCount, halfHandshake, neverReads, slowReader, within } from '../helpers/peers.js';
import { cert, key } from '../helpers/tls-fixtures.js';
import { tick } from '../helpers/async.js';

/** A legacy line server: answers each line with `${tag}${transform(line)}\n`. */
function legacyLines(tag: string, transform: (line: string) => string = (line) => line) {
  return class LegacyLines extends AsyncChat {
    #parts: Buffer[] = [];
    constructor(options: AsyncChatOptions) {
      super(options);
      this.setTerminator('\n');
    }
    override collectIncomingData(data: Buffer): void {
      this.#parts.push(data);
    }
    override foundTerminator(): void {
      const line = Buffer.concat(this.#parts.splice(0)).toString();
      this.push(`${tag}${transform(line)}\n`);
    }
    override logInfo(): void {}
  };
}

/** The modern twin of {@link legacyLines}. */
function modernLines(
  tag: string,
  transform: (line: string) => string = (line) => line,
): StreamHandler {
  return async (reader, writer) => {
    for (;;) {
      const line = await reader.readLine();
      if (line.length === 0) return;
      const text = line.toString();
      writer.write(`${tag}${transform(text.endsWith('\n') ? text.slice(0, -1) : text)}\n`);
      await writer.drain();
    }
  };
}

const LegacyL = legacyLines('L:');
const modernM = modernLines('M:');

/** asyncore's echo. */
class LegacyEcho extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(65536);
    if (data.length > 0) this.send(data);
  }
  override logInfo(): void {}
}

/** Chunk echo. */
const modernEcho: StreamHandler = async (reader, writer) => {
  for await (const chunk of reader.chunks()) {
    writer.write(chunk);
    await writer.drain();
  }
};

/** Reads everything, then answers with the byte count and closes (little output, much input). */
class LegacyCounter extends DispatcherWithSend {
  #count = 0;
  override writable(): boolean {
    return false;
  }
  override handleRead(): void {
    this.#count += this.recv(65536).length;
  }
  override handleClose(): void {
    this.send(`${this.#count}\n`);
    this.close();
  }
  override logInfo(): void {}
}

/** The modern twin of {@link LegacyCounter}. */
const modernCounter: StreamHandler = async (reader, writer) => {
  let count = 0;
  for await (const chunk of reader.chunks()) count += chunk.length;
  writer.write(`${count}\n`);
};

/** Sends `data`, half-closes, and returns everything received until the server closes. */
async function roundTrip(address: { host: string; port: number }, data: Buffer): Promise<Buffer> {
  const socket = net.connect({ host: address.host, port: address.port, allowHalfOpen: true });
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('close', () => resolve());
      socket.once('error', reject);
      socket.end(data);
    });
  } finally {
    socket.destroy();
  }
  return Buffer.concat(received);
}

interface TalkOptions {
  tls?: boolean;
}

/** Connects, writes each piece separately (one per tick), half-closes, returns all it received. */
async function talk(
  address: { host: string; port: number },
  pieces: Array<string | Buffer>,
  options: TalkOptions = {},
): Promise<string> {
  const socket = options.tls
    ? tls.connect({ host: address.host, port: address.port, ca: cert, servername: 'localhost' })
    : net.connect({ host: address.host, port: address.port, allowHalfOpen: true });
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve, reject) => {
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
  await new Promise<void>((resolve) =>
    socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve()),
  );
  try {
    for (const piece of pieces) {
      await new Promise<void>((resolve, reject) =>
        socket.write(piece, (error) => (error ? reject(error) : resolve())),
      );
      await tick();
    }
    socket.end();
    await closed;
  } finally {
    socket.destroy();
  }
  return Buffer.concat(received).toString();
}

/** An open client: `lines()` waits for n lines, `end()`, `closed`. */
function client(address: { host: string; port: number }) {
  // Not half-open: when the server closes, so does the client.
  const socket = net.connect({ host: address.host, port: address.port });
  socket.on('error', () => {});
  let text = '';
  let waiter: { count: number; resolve: () => void } | null = null;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    if (waiter !== null && text.split('\n').length - 1 >= waiter.count) {
      const w = waiter;
      waiter = null;
      w.resolve();
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    get text() {
      return text;
    },
    async lines(count: number): Promise<string> {
      if (text.split('\n').length - 1 < count) {
        await new Promise<void>((resolve) => (waiter = { count, resolve }));
      }
      return text;
    },
  };
}

describe('startMixedServer()', () => {
  let servers: MixedServer[];
  let sockets: net.Socket[];

  beforeEach(() => {
    servers = [];
    sockets = [];
  });
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => server.shutdown({ timeout: 0 })));
    for (const server of servers) {
      expect(server.connections, 'connections after shutdown').to.equal(0);
      expect(server.lingeringShadows, 'lingering shadows after shutdown').to.equal(0);
      expect(server.map.size, 'legacy map after shutdown').to.equal(0);
      expect(server.map.looping, 'legacy loop after shutdown').to.equal(false);
    }
  });

  async function serve(
    options: Omit<MixedServerOptions, 'legacy' | 'modern'> &
      Partial<Pick<MixedServerOptions, 'legacy' | 'modern'>>,
  ): Promise<MixedServer> {
    const server = await startMixedServer({
      legacy: LegacyL,
      modern: modernM,
      host: '127.0.0.1',
      port: 0,
      ...options,
    });
    servers.push(server);
    return server;
  }

  function tcp(server: MixedServer): { host: string; port: number } {
    const address = server.address();
    if (!('port' in address)) throw new Error('not TCP');
    return { host: address.host, port: address.port };
  }

  function track<T extends { socket: net.Socket }>(c: T): T {
    sockets.push(c.socket);
    return c;
  }

  describe('routing', () => {
    it('routes everything to one side with a constant rule', async () => {
      const legacy = await serve({ route: 'legacy' });
      const modern = await serve({ route: 'modern' });
      expect(await talk(tcp(legacy), ['a\nb\n'])).to.equal('L:a\nL:b\n');
      expect(await talk(tcp(modern), ['a\nb\n'])).to.equal('M:a\nM:b\n');
    });

    it('routes by a function of the connection', async () => {
      const server = await serve({ route: ({ id }) => (id % 2 === 1 ? 'legacy' : 'modern') });
      expect(await talk(tcp(server), ['x\n'])).to.equal('L:x\n');
      expect(await talk(tcp(server), ['x\n'])).to.equal('M:x\n');
      expect(await talk(tcp(server), ['x\n'])).to.equal('L:x\n');
    });

    it('routes by the first bytes, delivering the sniffed bytes intact to the chosen handler', async () => {
      const heads: string[] = [];
      const server = await serve({
        route: {
          by: 'sniff',
          bytes: 4,
          choose: (head) => {
            heads.push(head.toString());
            return head.toString() === 'MOD:' ? 'modern' : 'legacy';
          },
        },
      });
      // The first bytes arrive in several small writes, one per tick.
      expect(await talk(tcp(server), ['M', 'O', 'D', ':x', '\ny\n'])).to.equal('M:MOD:x\nM:y\n');
      expect(await talk(tcp(server), ['LE', 'G', ':a\nb', '\n'])).to.equal('L:LEG:a\nL:b\n');
      // A first write longer than `bytes`: the rule sees only `bytes` of it, the handler all.
      expect(await talk(tcp(server), ['MOD:long line\n'])).to.equal('M:MOD:long line\n');
      expect(heads).to.deep.equal(['MOD:', 'LEG:', 'MOD:']);
    });

    it('decides at end-of-stream when fewer bytes came, and still delivers them', async () => {
      const heads: string[] = [];
      const server = await serve({
        route: {
          by: 'sniff',
          bytes: 64,
          // Far beyond mocha's timeout: only end-of-stream can end this sniff.
          timeout: 60_000,
          choose: (head) => {
            heads.push(head.toString());
            return heads.length === 1 ? 'legacy' : 'modern';
          },
        },
      });
      expect(await talk(tcp(server), ['hi\n', 'there\n'])).to.equal('L:hi\nL:there\n');
      expect(await talk(tcp(server), ['hi\n', 'there\n'])).to.equal('M:hi\nM:there\n');
      expect(await talk(tcp(server), [])).to.equal('');
      expect(heads).to.deep.equal(['hi\nthere\n', 'hi\nthere\n', '']);
    });

    it('leaves no sniffing listener on the socket it hands over', async () => {
      const counts: Array<[string, number, number]> = [];
      const Legacy = class extends LegacyL {
        constructor(options: AsyncChatOptions) {
          counts.push([
            'legacy before',
            options.socket!.listenerCount('readable'),
            options.socket!.listenerCount('data'),
          ]);
          super(options);
          counts.push([
            'legacy after',
            options.socket!.listenerCount('readable'),
            options.socket!.listenerCount('data'),
          ]);
        }
      };
      const server = await serve({
        legacy: Legacy,
        modern: async (reader, writer, context) => {
          const socket = writer.getExtraInfo('socket') as net.Socket;
          counts.push(['modern', socket.listenerCount('readable'), socket.listenerCount('data')]);
          await modernM(reader, writer, context);
        },
        route: {
          by: 'sniff',
          bytes: 1,
          choose: (head) => (head.toString() === 'm' ? 'modern' : 'legacy'),
        },
      });
      expect(await talk(tcp(server), ['l1\n'])).to.equal('L:l1\n');
      expect(await talk(tcp(server), ['m1\n'])).to.equal('M:m1\n');
      // The legacy transport's own listener is all that is left (it flows into its queue).
      expect(counts).to.deep.equal([
        ['legacy before', 0, 0],
        ['legacy after', 0, 1],
        ['modern', 0, 1],
      ]);
    });

    it('never routes a connection that closes while it is being sniffed', async () => {
      const routes: RouteEvent[] = [];
      const server = await serve({
        // Far beyond mocha's timeout: only the shutdown can end this sniff.
        route: { by: 'sniff', bytes: 64, timeout: 60_000, choose: () => 'legacy' },
      });
      server.on('route', (event) => routes.push(event));
      const c = track(client(tcp(server)));
      await new Promise<void>((resolve) => c.socket.write('x', () => resolve()));
      for (let i = 0; i < 10_000 && server.connections === 0; i++) await tick();
      await server.shutdown({ timeout: 5 });
      await c.closed;
      expect(routes).to.deep.equal([]);
      expect(server.connections).to.equal(0);
    });

    it('routes at end-of-stream a client that resets while being sniffed (Node reports it as EOF)', async () => {
      const server = await serve({
        route: { by: 'sniff', bytes: 64, timeout: 60_000, choose: () => 'modern' },
      });
      const c = track(client(tcp(server)));
      await new Promise<void>((resolve) => c.socket.write('x', () => resolve()));
      c.socket.resetAndDestroy();
      await c.closed;
      await server.shutdown(); // would wait for the sniff timeout if the reset had been missed
      expect(server.connections).to.equal(0);
    });

    it('sniffs share one timer: each decides at its own deadline, none is left once all settled', async () => {
      const decided: Array<[string, number]> = [];
      const started = new Map<string, number>();
      const server = await serve({
        route: {
          by: 'sniff',
          bytes: 64,
          timeout: 120,
          choose: (head) => {
            decided.push([head.toString(), performance.now()]);
            return 'modern';
          },
        },
      });
      const timers = (): number =>
        process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
      const before = timers();
      const open = async (head: string): Promise<ReturnType<typeof client>> => {
        const accepted = server.stats().accepted;
        // The server accepts it after this: its deadline is no earlier than this plus 120 ms.
        started.set(head, performance.now());
        const c = track(client(tcp(server)));
        await new Promise<void>((resolve) => c.socket.write(head, () => resolve()));
        for (let i = 0; i < 10_000 && server.stats().accepted === accepted; i++) await tick();
        return c;
      };
      const routes: RouteEvent[] = [];
      server.on('route', (event) => routes.push(event));
      const a = await open('a');
      // One that goes away while sniffed is decided at its end-of-stream: its entry in the
      // shared queue is skipped and holds up no later deadline.
      const gone = await open('gone');
      gone.socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 40));
      const b = await open('b');
      expect(await within(2_000, () => routes.length === 3)).to.equal(true);
      for (const c of [a, b]) c.socket.end('!\n');
      await Promise.all([a.closed, b.closed]);
      expect(a.text).to.equal('M:a!\n');
      expect(b.text).to.equal('M:b!\n');
      expect(decided.map(([head]) => head)).to.deep.equal(['gone', 'a', 'b']);
      for (const [head, at] of decided.slice(1)) {
        // A timer rounds to the millisecond: never earlier than its own timeout, less that.
        expect(at - started.get(head)!, head).to.be.at.least(119);
      }
      expect(await within(1_000, () => timers() <= before)).to.equal(true);
    });

    it('decides after the sniff timeout with what has arrived', async () => {
      const heads: string[] = [];
      const server = await serve({
        route: {
          by: 'sniff',
          bytes: 64,
          timeout: 10,
          choose: (head) => {
            heads.push(head.toString());
            return 'modern';
          },
        },
      });
      const c = track(client(tcp(server)));
      c.socket.write('ab');
      await new Promise<void>((resolve) => server.once('route', () => resolve()));
      c.socket.end('c\n');
      await c.closed;
      expect(c.text).to.equal('M:abc\n');
      expect(heads).to.deep.equal(['ab']);
    });

    it('sniffs over TLS too', async () => {
      const server = await serve({
        tls: { key, cert },
        route: {
          by: 'sniff',
          bytes: 2,
          choose: (head) => (head.toString() === 'm ' ? 'modern' : 'legacy'),
        },
      });
      expect(await talk(tcp(server), ['m', ' 1\n'], { tls: true })).to.equal('M:m 1\n');
      expect(await talk(tcp(server), ['l', ' 2\n'], { tls: true })).to.equal('L:l 2\n');
    });

    it('routes by remote address on one port shared by 127.0.0.1 and ::1', async () => {
      const seen: string[] = [];
      const server = await serve({
        host: ['127.0.0.1', '::1'],
        route: {
          by: 'address',
          choose: (address) => {
            const host = 'host' in address ? address.host : address.path;
            seen.push(host);
            return host === '::1' ? 'modern' : 'legacy';
          },
        },
      });
      const [v4, v6] = server.addresses();
      expect(v4).to.include({ host: '127.0.0.1' });
      expect(v6).to.include({ host: '::1' });
      const port = tcp(server).port;
      expect((v6 as { port: number }).port).to.equal(port);
      expect(await talk({ host: '127.0.0.1', port }, ['x\n'])).to.equal('L:x\n');
      expect(await talk({ host: '::1', port }, ['x\n'])).to.equal('M:x\n');
      expect(seen).to.deep.equal(['127.0.0.1', '::1']);
    });

    it('sends an exact fraction to modern, deterministically, without a random source', async () => {
      const routes: RouteEvent[] = [];
      const server = await serve({ route: { by: 'fraction', modern: 0.5 } });
      server.on('route', (event) => routes.push(event));
      const replies: string[] = [];
      for (let i = 0; i < 4; i++) replies.push(await talk(tcp(server), [`${i}\n`]));
      expect(replies).to.deep.equal(['L:0\n', 'M:1\n', 'L:2\n', 'M:3\n']);
      expect(routes.map((r) => r.implementation)).to.deep.equal([
        'legacy',
        'modern',
        'legacy',
        'modern',
      ]);
      expect(routes.map((r) => r.shadow)).to.deep.equal([
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
    });

    it('sends every tenth connection to modern with fraction 0.1', async () => {
      const routes: string[] = [];
      const server = await serve({ route: { by: 'fraction', modern: 0.1 } });
      server.on('route', (event) => routes.push(event.implementation));
      for (let i = 0; i < 20; i++) await talk(tcp(server), ['x\n']);
      expect(routes.filter((r) => r === 'modern')).to.have.length(2);
      expect(routes[9]).to.equal('modern');
      expect(routes[19]).to.equal('modern');
    });

    it('uses an injected random source for the fraction', async () => {
      const draws = [0.05, 0.5, 0.09, 0.95];
      const server = await serve({
        route: { by: 'fraction', modern: 0.1, random: () => draws.shift()! },
      });
      const replies: string[] = [];
      for (let i = 0; i < 4; i++) replies.push(await talk(tcp(server), [`${i}\n`]));
      expect(replies).to.deep.equal(['M:0\n', 'L:1\n', 'M:2\n', 'L:3\n']);
    });

    it('closes only the connection whose rule throws or answers nonsense, and reports it', async () => {
      const errors: Array<[unknown, MixedErrorInfo | undefined]> = [];
      const server = await serve({
        route: ({ id }) => {
          if (id === 2) throw new Error('rule failed');
          if (id === 3) return 'neither' as 'legacy';
          return 'modern';
        },
      });
      server.on('error', (error, info) => errors.push([error, info]));
      const good = track(client(tcp(server)));
      good.socket.write('a\n');
      await good.lines(1);
      expect(await talk(tcp(server), ['x\n'])).to.equal('');
      expect(await talk(tcp(server), ['x\n'])).to.equal('');
      good.socket.end('b\n');
      await good.closed;
      expect(good.text).to.equal('M:a\nM:b\n');
      expect(errors).to.have.length(2);
      expect((errors[0]![0] as Error).message).to.equal('rule failed');
      expect(errors[0]![1]).to.include({ id: 2, role: 'route', implementation: undefined });
      expect(errors[1]![0]).to.be.instanceOf(TypeError);
      expect((errors[1]![0] as Error).message).to.equal(
        "Expected the route to choose 'legacy' or 'modern', got `neither` (string)",
      );
      expect(errors[1]![1]).to.include({ id: 3, role: 'route' });
    });
  });

  describe('shadow mode', () => {
    function watch(server: MixedServer) {
      const events = {
        divergences: [] as DivergenceReport[],
        drops: [] as ShadowDropReport[],
        errors: [] as Array<[unknown, MixedErrorInfo | undefined]>,
      };
      server.on('divergence', (report) => events.divergences.push(report));
      server.on('shadowDropped', (report) => events.drops.push(report));
      server.on('error', (error, info) => events.errors.push([error, info]));
      return events;
    }

    it('reports nothing when the outputs match, in both directions', async () => {
      for (const route of ['legacy', 'modern'] as const) {
        const server = await serve({
          legacy: legacyLines('='),
          modern: modernLines('='),
          route,
          shadow: true,
        });
        const events = watch(server);
        const routes: RouteEvent[] = [];
        server.on('route', (event) => routes.push(event));
        expect(await talk(tcp(server), ['one\nt', 'wo\n', 'three\n'])).to.equal(
          '=one\n=two\n=three\n',
        );
        await server.shutdown(); // waits for the shadows too
        expect(routes[0]).to.include({
          implementation: route,
          shadow: route === 'legacy' ? 'modern' : 'legacy',
        });
        expect(events).to.deep.equal({ divergences: [], drops: [], errors: [] });
      }
    });

    it('sends only the primary output to the client and reports a divergence at offset 0', async () => {
      const server = await serve({ route: 'legacy', shadow: { window: 3 } });
      const events = watch(server);
      expect(await talk(tcp(server), ['ab\n'])).to.equal('L:ab\n');
      await server.shutdown();
      expect(events.divergences).to.have.length(1);
      const [report] = events.divergences;
      expect(report).to.include({ id: 1, offset: 0, start: 0, primaryImplementation: 'legacy' });
      expect(report!.primary.toString()).to.equal('L:a');
      expect(report!.shadow.toString()).to.equal('M:a');
    });

    for (const primary of ['legacy', 'modern'] as const) {
      it(`reports the first differing byte with a window around it (primary ${primary})`, async () => {
        const eightForSeven = (line: string): string => line.replace('7', '8');
        const server = await serve({
          legacy: legacyLines('='),
          modern: modernLines('=', eightForSeven),
          route: primary,
          shadow: { window: 4 },
        });
        const events = watch(server);
        const reply = await talk(tcp(server), ['hel', 'lo\nworld', ' 7\n', 'more\n', 'x\n']);
        expect(reply).to.equal(
          primary === 'legacy' ? '=hello\n=world 7\n=more\n=x\n' : '=hello\n=world 8\n=more\n=x\n',
        );
        await server.shutdown();
        expect(events.errors).to.deep.equal([]);
        expect(events.drops).to.deep.equal([]);
        expect(events.divergences).to.have.length(1);
        const report = events.divergences[0]!;
        // '=hello\n=world ' is 14 bytes: the outputs differ at offset 14.
        expect(report).to.include({ offset: 14, start: 10, primaryImplementation: primary });
        const legacyWindow = 'rld 7\n=m';
        const modernWindow = 'rld 8\n=m';
        expect(report.primary.toString()).to.equal(
          primary === 'legacy' ? legacyWindow : modernWindow,
        );
        expect(report.shadow.toString()).to.equal(
          primary === 'legacy' ? modernWindow : legacyWindow,
        );
      });
    }

    it('reports extra output of one side as a divergence where the other ended', async () => {
      const server = await serve({
        legacy: legacyLines('='),
        modern: async (reader, writer, context) => {
          await modernLines('=')(reader, writer, context);
          writer.write('bye\n');
        },
        route: 'legacy',
        shadow: { window: 8 },
      });
      const events = watch(server);
      expect(await talk(tcp(server), ['a\n'])).to.equal('=a\n');
      await server.shutdown();
      expect(events.divergences).to.have.length(1);
      expect(events.divergences[0]).to.include({ offset: 3, start: 0 });
      expect(events.divergences[0]!.primary.toString()).to.equal('=a\n');
      expect(events.divergences[0]!.shadow.toString()).to.equal('=a\nbye\n');
    });

    it('isolates a modern shadow that throws: reported, dropped, the primary unaffected', async () => {
      const server = await serve({
        legacy: legacyLines('='),
        modern: async (reader) => {
          await reader.readLine();
          throw new Error('shadow bug');
        },
        route: 'legacy',
        shadow: true,
      });
      const events = watch(server);
      expect(await talk(tcp(server), ['a\n', 'b\n', 'c\n'])).to.equal('=a\n=b\n=c\n');
      await server.shutdown();
      expect(events.errors).to.have.length(1);
      expect((events.errors[0]![0] as Error).message).to.equal('shadow bug');
      expect(events.errors[0]![1]).to.include({ id: 1, role: 'shadow', implementation: 'modern' });
      expect(events.drops).to.deep.equal([{ id: 1, implementation: 'modern', reason: 'error' }]);
      expect(events.divergences).to.deep.equal([]);
    });

    it('isolates a legacy shadow that throws: reported, dropped, the primary unaffected', async () => {
      const server = await serve({
        legacy: legacyLines('=', (line) => {
          if (line === 'b') throw new Error('legacy shadow bug');
          return line;
        }),
        modern: modernLines('='),
        route: 'modern',
        shadow: true,
      });
      const events = watch(server);
      expect(await talk(tcp(server), ['a\n', 'b\n', 'c\n'])).to.equal('=a\n=b\n=c\n');
      await server.shutdown();
      expect(events.errors).to.have.length(1);
      expect((events.errors[0]![0] as Error).message).to.equal('legacy shadow bug');
      expect(events.errors[0]![1]).to.include({ role: 'shadow', implementation: 'legacy' });
      expect(events.drops).to.deep.equal([{ id: 1, implementation: 'legacy', reason: 'error' }]);
    });

    it('drops a modern shadow that never reads once it lags maxBuffered behind', async () => {
      let shadowAborted: unknown;
      const server = await serve({
        legacy: LegacyCounter,
        modern: async (_reader, _writer, { signal }) => {
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          shadowAborted = signal.reason;
        },
        route: 'legacy',
        shadow: { maxBuffered: 32 * 1024 },
      });
      const events = watch(server);
      const data = Buffer.alloc(1024 * 1024, 'abcdefgh');
      expect((await roundTrip(tcp(server), data)).toString()).to.equal(`${data.length}\n`);
      await server.shutdown();
      expect(events.drops).to.deep.equal([
        { id: 1, implementation: 'modern', reason: 'input-overrun' },
      ]);
      expect(events.errors).to.deep.equal([]);
      expect(shadowAborted).to.be.instanceOf(Error);
    });

    it('drops a legacy shadow that never reads once it lags maxBuffered behind', async () => {
      const server = await serve({
        legacy: class NeverReads extends LegacyEcho {
          override readable(): boolean {
            return false;
          }
          override writable(): boolean {
            return false;
          }
        },
        modern: modernCounter,
        route: 'modern',
        shadow: { maxBuffered: 32 * 1024 },
      });
      const events = watch(server);
      const data = Buffer.alloc(1024 * 1024, 'xyz');
      expect((await roundTrip(tcp(server), data)).toString()).to.equal(`${data.length}\n`);
      await server.shutdown();
      expect(events.drops).to.deep.equal([
        { id: 1, implementation: 'legacy', reason: 'input-overrun' },
      ]);
    });

    it('drops a shadow whose output runs ahead of the primary by more than maxBuffered', async () => {
      const server = await serve({
        legacy: LegacyEcho,
        modern: async (reader, writer, context) => {
          writer.write(Buffer.alloc(256 * 1024, 'z'));
          await writer.drain();
          await modernEcho(reader, writer, context);
        },
        route: 'legacy',
        shadow: { maxBuffered: 64 * 1024 },
      });
      const events = watch(server);
      expect((await roundTrip(tcp(server), Buffer.from('hello'))).toString()).to.equal('hello');
      await server.shutdown();
      // The first bytes differ ('h' against 'z'): whichever is noticed first stops the comparison.
      expect(events.divergences.length + events.drops.length).to.equal(1);
    });

    for (const primary of ['legacy', 'modern'] as const) {
      it(`streams 1 MiB through the primary with backpressure, equal to the shadow (primary ${primary})`, async () => {
        const server = await serve({
          legacy: LegacyEcho,
          modern: modernEcho,
          route: primary,
          // More than the data: a bulk sender may put the whole of it between the two.
          shadow: { maxBuffered: 4 * 1024 * 1024 },
        });
        const events = watch(server);
        const data = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
        expect((await roundTrip(tcp(server), data)).equals(data)).to.equal(true);
        await server.shutdown();
        expect(events).to.deep.equal({ divergences: [], drops: [], errors: [] });
      });
    }

    it('combines sniffing, TLS and shadow mode', async () => {
      const server = await serve({
        legacy: legacyLines('='),
        modern: modernLines('=', (line) => line.toUpperCase()),
        tls: { key, cert },
        route: {
          by: 'sniff',
          bytes: 3,
          choose: (head) => (head.toString() === 'up ' ? 'modern' : 'legacy'),
        },
        shadow: { window: 2 },
      });
      const events = watch(server);
      expect(await talk(tcp(server), ['u', 'p ', 'x\n'], { tls: true })).to.equal('=UP X\n');
      expect(await talk(tcp(server), ['lo', 'w\n'], { tls: true })).to.equal('=low\n');
      await server.shutdown();
      expect(
        events.divergences.map((d) => [d.id, d.offset, d.primary.toString(), d.shadow.toString()]),
      ).to.deep.equal([
        [1, 1, '=UP', '=up'],
        [2, 1, '=lo', '=LO'],
      ]);
    });

    it('drops the shadow as incomplete when the client resets before the primary finished', async () => {
      const server = await serve({
        legacy: legacyLines('='),
        modern: modernLines('='),
        route: 'legacy',
        shadow: true,
      });
      const events = watch(server);
      const c = track(client(tcp(server)));
      c.socket.write('a\n');
      await c.lines(1);
      c.socket.resetAndDestroy();
      await c.closed;
      await server.shutdown();
      expect(events.drops).to.deep.equal([
        { id: 1, implementation: 'modern', reason: 'incomplete' },
      ]);
      expect(events.divergences).to.deep.equal([]);
      expect(events.errors).to.deep.equal([]);
    });

    it('drops a shadow that has not finished `grace` ms after the connection closed', async () => {
      let shadowSignal: AbortSignal | undefined;
      const server = await serve({
        legacy: legacyLines('='),
        modern: async (reader, writer, context) => {
          const { signal } = context;
          shadowSignal = signal;
          await modernLines('=')(reader, writer, context);
          // Output complete and equal, but it never closes.
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        },
        route: 'legacy',
        shadow: { grace: 10 },
      });
      const events = watch(server);
      expect(await talk(tcp(server), ['a\n'])).to.equal('=a\n');
      await server.shutdown();
      expect(events.drops).to.deep.equal([{ id: 1, implementation: 'modern', reason: 'timeout' }]);
      expect(events.divergences).to.deep.equal([]);
      expect(shadowSignal?.aborted).to.equal(true);
    });
  });

  describe('shutdown and isolation', () => {
    it('one shutdown lets both kinds of handler finish before the timeout', async () => {
      const server = await serve({ route: { by: 'fraction', modern: 0.5 } });
      const legacy = track(client(tcp(server)));
      legacy.socket.write('a\n');
      await legacy.lines(1);
      const modern = track(client(tcp(server)));
      modern.socket.write('a\n');
      await modern.lines(1);
      const address = tcp(server);
      let done = false;
      const shutdown = server.shutdown({ timeout: 60_000 }).then(() => (done = true));
      // No new connection is accepted.
      const refused = await new Promise<unknown>((resolve) => {
        const socket = net.connect(address);
        socket.once('error', resolve);
        socket.once('connect', () => {
          socket.destroy();
          resolve(undefined);
        });
      });
      expect(refused).to.have.property('code', 'ECONNREFUSED');
      expect(done).to.equal(false);
      legacy.socket.end('b\n');
      modern.socket.end('b\n');
      await Promise.all([legacy.closed, modern.closed, shutdown]);
      expect(legacy.text).to.equal('L:a\nL:b\n');
      expect(modern.text).to.equal('M:a\nM:b\n');
      expect(server.connections).to.equal(0);
    });

    for (const shadow of [false, true]) {
      it(`after the timeout aborts modern signals and closes legacy dispatchers${shadow ? ' (shadow mode)' : ''}`, async () => {
        const closes: number[] = [];
        const reasons: unknown[] = [];
        const server = await serve({
          legacy: class extends legacyLines('L:') {
            override handleClose(): void {
              closes.push(1);
              this.close();
            }
          },
          modern: async (reader, writer, context) => {
            try {
              await modernLines('M:')(reader, writer, context);
            } catch {
              // the shutdown cut the connection
            }
            if (!context.signal.aborted) {
              await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
            }
            reasons.push(context.signal.reason);
          },
          route: { by: 'fraction', modern: 0.5 },
          shadow,
        });
        const events: ShadowDropReport[] = [];
        server.on('shadowDropped', (report) => events.push(report));
        const a = track(client(tcp(server)));
        a.socket.write('a\n');
        await a.lines(1);
        const b = track(client(tcp(server)));
        b.socket.write('b\n');
        await b.lines(1);
        expect(server.connections).to.equal(2);
        // A legacy primary, plus (shadow mode) the legacy shadow of the modern connection.
        // The legacy shadow runs in a map of its own, apart from the primaries.
        expect([server.map.size, server.shadowMap.size]).to.deep.equal(shadow ? [1, 1] : [1, 0]);
        await server.shutdown({ timeout: 20 });
        await Promise.all([a.closed, b.closed]);
        expect(a.text).to.equal('L:a\n');
        expect(b.text).to.equal('M:b\n');
        expect(closes).to.have.length(shadow ? 2 : 1);
        // The modern primary, plus (shadow mode) the modern shadow of the legacy connection.
        expect(reasons).to.have.length(shadow ? 2 : 1);
        for (const reason of reasons) expect(reason).to.be.instanceOf(TimeoutError);
        expect(server.connections).to.equal(0);
        expect(server.map.size + server.shadowMap.size).to.equal(0);
        if (shadow) {
          expect(events.map((e) => e.reason)).to.deep.equal(['shutdown', 'shutdown']);
        }
      });
    }

    it('an error in one connection leaves the others working, on either side', async () => {
      const errors: Array<[unknown, MixedErrorInfo | undefined]> = [];
      const boom = (line: string): string => {
        if (line === 'boom') throw new Error(`boom in ${line}`);
        return line;
      };
      const viaOption: number[] = [];
      const server = await serve({
        legacy: legacyLines('L:', boom),
        modern: modernLines('M:', boom),
        route: ({ id }) => (id <= 2 ? 'legacy' : 'modern'),
        onError: (_error, info) => {
          viaOption.push(info.id);
          throw new Error('a throwing onError is ignored');
        },
      });
      server.on('error', (error, info) => errors.push([error, info]));
      const clients = [1, 2, 3, 4].map(() => track(client(tcp(server))));
      for (const c of clients) {
        c.socket.write('hi\n');
        await c.lines(1);
      }
      clients[1]!.socket.write('boom\n');
      clients[3]!.socket.write('boom\n');
      await Promise.all([clients[1]!.closed, clients[3]!.closed]);
      for (const c of [clients[0]!, clients[2]!]) {
        c.socket.end('still here\n');
        await c.closed;
      }
      expect(clients.map((c) => c.text)).to.deep.equal([
        'L:hi\nL:still here\n',
        'L:hi\n',
        'M:hi\nM:still here\n',
        'M:hi\n',
      ]);
      const reported = errors
        .map(([error, info]) => [
          (error as Error).message,
          info?.id,
          info?.role,
          info?.implementation,
        ])
        .sort((x, y) => (x[1] as number) - (y[1] as number));
      expect(reported).to.deep.equal([
        ['boom in boom', 2, 'primary', 'legacy'],
        ['boom in boom', 4, 'primary', 'modern'],
      ]);
      expect(viaOption.sort()).to.deep.equal([2, 4]);
    });

    it('leaves nothing behind after a shutdown: no connection, shadow, dispatcher or loop', async () => {
      const server = await serve({
        route: { by: 'fraction', modern: 0.5 },
        shadow: { grace: 60_000 },
      });
      let closeEvents = 0;
      server.on('close', () => closeEvents++);
      const idle = [track(client(tcp(server))), track(client(tcp(server)))];
      for (const c of idle) {
        c.socket.write('x\n');
        await c.lines(1);
      }
      expect(server.connections).to.equal(2);
      // One legacy primary, and one legacy shadow in the shadows' own map.
      expect([server.map.size, server.shadowMap.size]).to.deep.equal([1, 1]);
      expect(server.map.looping).to.equal(true);
      await server.shutdown({ timeout: 5 });
      await Promise.all(idle.map((c) => c.closed));
      expect(server.listening).to.equal(false);
      expect(server.connections).to.equal(0);
      expect(server.lingeringShadows).to.equal(0);
      expect(server.map.size + server.shadowMap.size).to.equal(0);
      expect(server.map.looping).to.equal(false);
      expect(closeEvents).to.equal(1);
      await server.waitClosed(); // resolves at once
      await server.shutdown(); // idempotent
      expect(closeEvents).to.equal(1);
    });

    it('serves a Unix socket path', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mixed-'));
      try {
        const path = join(dir, 's.sock');
        const seen: unknown[] = [];
        const server = await serve({
          host: undefined,
          port: undefined,
          path,
          route: { by: 'address', choose: (address) => (seen.push(address), 'modern') },
        });
        expect(server.address()).to.deep.equal({ path });
        const reply = await new Promise<string>((resolve, reject) => {
          const socket = net.connect({ path });
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
          socket.once('error', reject);
          socket.once('close', () => resolve(text));
          socket.end('u\n');
        });
        expect(reply).to.equal('M:u\n');
        expect(seen).to.deep.equal([{ path }]);
        await server.shutdown();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('options', () => {
    const base = { legacy: LegacyL, modern: modernM };

    it('rejects bad options with typed errors', async () => {
      const cases: Array<[Record<string, unknown>, ErrorConstructor, string]> = [
        [
          { ...base, route: 'both' },
          TypeError,
          "Expected `route` to be 'legacy', 'modern', a function or a rule with `by` 'sniff', 'address' or 'fraction', got `both` (string)",
        ],
        [
          { ...base, route: { by: 'fraction', modern: 2 } },
          RangeError,
          'Expected `route.modern` to be a number from 0 to 1, got `2` (number)',
        ],
        [
          { ...base, route: { by: 'fraction', modern: '1' } },
          TypeError,
          'Expected `route.modern` to be a number from 0 to 1, got `1` (string)',
        ],
        [
          { ...base, route: { by: 'sniff', bytes: 0, choose: () => 'legacy' } },
          RangeError,
          'Expected `route.bytes` to be a positive integer, got `0` (number)',
        ],
        [
          { ...base, route: { by: 'address' } },
          TypeError,
          'Expected `route.choose` to be a function, got `undefined` (undefined)',
        ],
        [
          { ...base, route: 'legacy', shadow: { maxBuffered: -1 } },
          RangeError,
          'Expected `shadow.maxBuffered` to be a positive integer, got `-1` (number)',
        ],
        [
          { ...base, route: 'legacy', shadow: { window: 1.5 } },
          RangeError,
          'Expected `shadow.window` to be a non-negative integer, got `1.5` (number)',
        ],
        [
          { modern: modernM, route: 'legacy' },
          TypeError,
          'Expected `legacy` to be a Dispatcher subclass, got `undefined` (undefined)',
        ],
        [
          { ...base, modern: 'x', route: 'legacy' },
          TypeError,
          'Expected `modern` to be a function, got `x` (string)',
        ],
      ];
      for (const [options, type, message] of cases) {
        let caught: unknown;
        try {
          await startMixedServer(options as unknown as MixedServerOptions);
        } catch (error) {
          caught = error;
        }
        expect(caught, message).to.be.instanceOf(type);
        expect((caught as Error).message).to.equal(message);
      }
    });

    it('rejects with the listen error and leaves nothing open', async () => {
      const first = await serve({ route: 'legacy' });
      let caught: unknown;
      try {
        await startMixedServer({
          ...base,
          route: 'legacy',
          host: '127.0.0.1',
          port: tcp(first).port,
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).to.have.property('code', 'EADDRINUSE');
    });
  });
});

describe('startMixedServer(): the connection lifecycle under attack', () => {
  let servers: MixedServer[];
  beforeEach(() => {
    servers = [];
  });
  afterEach(async () => {
    await Promise.all(servers.map((server) => server.shutdown({ timeout: 0 })));
  });

  async function serve(options: Partial<MixedServerOptions> = {}): Promise<MixedServer> {
    const server = await startMixedServer({
      legacy: LegacyL,
      modern: modernM,
      route: 'modern',
      host: '127.0.0.1',
      port: 0,
      ...options,
    });
    server.on('error', () => undefined);
    servers.push(server);
    return server;
  }
  const portOf = (server: MixedServer): number => (server.address() as { port: number }).port;

  it('close() while it is still binding its hosts: startServing() rejects with AbortError and no port listens', async () => {
    const server = new MixedServer({
      legacy: LegacyL,
      modern: modernM,
      route: 'legacy',
      host: ['127.0.0.1', '::1'],
      port: 0,
    });
    const closed = new Promise<void>((resolve) => server.once('close', resolve));
    const starting = server.startServing();
    server.close();
    const error = (await starting.then(
      () => null,
      (e: unknown) => e,
    )) as AbortError;
    expect(error).to.be.instanceOf(AbortError);
    expect(error.code).to.equal('ERR_DB_ABORTED');
    await closed;
    expect(server.listening).to.equal(false);
    expect(server.addresses()).to.deep.equal([]);
  });

  it('a modern primary that returns never truncates its reply with unread input in flight', async function () {
    this.timeout(30_000);
    const reply = Buffer.alloc(16 * 1024 * 1024, 0x72);
    const server = await serve({
      modern: async (reader, writer) => {
        await reader.readLine();
        writer.write(reply);
      },
    });
    const result = await slowReader(portOf(server), {
      line: 'GET\n',
      send: 1024 * 1024,
      delay: 300,
    });
    expect(result.error).to.equal(undefined);
    expect(result.received).to.equal(reply.length);
  });

  it('TLS: half-finished handshakes give their fds back, a stalled one meets handshakeTimeout, and waitClosed() finishes', async () => {
    const server = await serve({ tls: { key, cert }, handshakeTimeout: 50 });
    const port = portOf(server);
    const before = fdCount();
    await Promise.all(Array.from({ length: 50 }, (_, i) => halfHandshake(port, i % 2 === 1)));
    expect(await within(2_000, () => fdCount() <= before)).to.equal(true);
    const stalled = await neverReads(port);
    stalled.resume();
    await new Promise((resolve) => stalled.once('close', resolve));
    server.close();
    await server.waitClosed();
  });

  it('takes the protections of startServer: maxConnections, concurrency and idleTimeout', async () => {
    const served: number[] = [];
    const server = await serve({
      route: ({ id }) => (id % 2 === 0 ? 'modern' : 'legacy'),
      maxConnections: 3,
      concurrency: 2,
      idleTimeout: 100,
    });
    const port = portOf(server);
    const clients = await Promise.all(
      [0, 1, 2, 3].map(() => openConnection({ host: '127.0.0.1', port })),
    );
    // The fourth was refused at once (maxConnections 3).
    const refused = await clients[3]!.reader.read().then(
      (data) => data.length,
      () => 0,
    );
    expect(refused).to.equal(0);
    // Two are served (concurrency 2); the idle clock cuts them after 100 ms without traffic.
    for (const [i, client] of clients.slice(0, 3).entries()) client.writer.write(`${i}\n`);
    const answers = await Promise.all(
      clients.slice(0, 2).map(async (client) => (await client.reader.readLine()).toString()),
    );
    served.push(answers.length);
    expect(answers.sort()).to.deep.equal(['L:0\n', 'M:1\n']);
    // The third waited for a slot, not counted as idle, and is served once one is free.
    expect((await clients[2]!.reader.readLine()).toString()).to.equal('L:2\n');
    for (const client of clients) client.writer.close();
  });

  it("an IPv4 client of a '::' listener has one address in the route, the context and peername", async () => {
    const seen: unknown[] = [];
    const server = await serve({
      host: '::',
      route: (info) => {
        seen.push(info.remoteAddress);
        return 'modern';
      },
      modern: (_reader, writer, context) => {
        seen.push(context.remoteAddress, writer.getExtraInfo('peername'));
      },
    });
    const pair = await openConnection({ host: '127.0.0.1', port: portOf(server) });
    await pair.reader.read();
    const port = (pair.writer.getExtraInfo('sockname') as { port: number }).port;
    const expected = { host: '127.0.0.1', port, family: 'IPv4' };
    expect(seen).to.deep.equal([expected, expected, expected]);
    pair.writer.close();
  });

  it("keeps the peer's address once, in the connection: its socket holds no copy of Node's", async () => {
    const seen: unknown[] = [];
    const server = await serve({
      route: 'modern',
      modern: (_reader, writer, context) => {
        const socket = writer.getExtraInfo('socket') as { _peername?: unknown };
        seen.push(socket._peername, context.remoteAddress);
      },
    });
    const pair = await openConnection({ host: '127.0.0.1', port: portOf(server) });
    await pair.reader.read();
    const port = (pair.writer.getExtraInfo('sockname') as { port: number }).port;
    expect(seen).to.deep.equal([undefined, { host: '127.0.0.1', port, family: 'IPv4' }]);
    pair.writer.close();
  });

  it('refuses bad options with a TypeError or RangeError naming the option', () => {
    const base = { legacy: LegacyL, modern: modernM, route: 'modern' as const };
    expect(() => new MixedServer({ ...base, host: [] })).to.throw(TypeError, '`host`');
    expect(() => new MixedServer({ ...base, backlog: -1 })).to.throw(RangeError, '`backlog`');
    expect(() => new MixedServer({ ...base, idleTimeout: 2 ** 31 })).to.throw(
      RangeError,
      '`idleTimeout`',
    );
    expect(() => new MixedServer({ ...base, tls: {} })).to.throw(TypeError, '`tls`');
  });
});

describe('startMixedServer(): shadows run isolated', () => {
  let server: MixedServer | undefined;
  afterEach(async () => {
    await server?.shutdown({ timeout: 0 });
    server = undefined;
  });

  /** asyncore's broadcast idiom: every line goes to every chat of `this.map`. */
  class BroadcastChat extends AsyncChat {
    #parts: Buffer[] = [];
    readonly isShadow: boolean;
    constructor(options: LegacyHandlerOptions) {
      super(options);
      this.isShadow = options.shadow === true;
      this.setTerminator('\n');
    }
    override collectIncomingData(data: Buffer): void {
      this.#parts.push(data);
    }
    override foundTerminator(): void {
      const line = `${Buffer.concat(this.#parts.splice(0)).toString()}\n`;
      for (const member of this.map) if (member instanceof BroadcastChat) member.push(line);
    }
    override logInfo(): void {}
  }

  it("a legacy shadow's broadcast over this.map never reaches a real client", async () => {
    const shadows: boolean[] = [];
    server = await startMixedServer({
      legacy: BroadcastChat,
      modern: async (reader, writer, context) => {
        shadows.push(context.shadow === true);
        for await (const line of reader) writer.write(line);
      },
      // Client one: a legacy primary (a modern shadow); client two: a modern primary whose
      // legacy shadow broadcasts what client two says.
      route: { by: 'fraction', modern: 0.5 },
      shadow: true,
      host: '127.0.0.1',
      port: 0,
    });
    server.on('divergence', () => undefined);
    const port = (server.address() as { port: number }).port;
    const one = await openConnection({ host: '127.0.0.1', port });
    one.writer.write('hello from one\n');
    expect((await one.reader.readLine()).toString()).to.equal('hello from one\n');
    const two = await openConnection({ host: '127.0.0.1', port });
    two.writer.write('a private line from two\n');
    expect((await two.reader.readLine()).toString()).to.equal('a private line from two\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    one.writer.writeEof();
    // Client one got nothing from client two's shadow: end-of-stream right after its own line.
    expect((await one.reader.read()).toString()).to.equal('');
    expect(shadows.sort()).to.deep.equal([false, true]);
    two.writer.close();
  });

  it('a legacy primary in shadow mode keeps its real socket view; each side knows its role', async () => {
    const seen: unknown[] = [];
    class Inspecting extends AsyncChat {
      constructor(options: LegacyHandlerOptions) {
        super(options);
        const socket = options.socket as net.Socket;
        socket.setNoDelay(true); // would throw on a bare in-memory end
        socket.setKeepAlive(true, 1_000);
        if (options.shadow !== true) {
          seen.push(socket.remoteAddress, socket.remoteFamily, this.address());
        }
        this.setTerminator('\n');
        this.push(options.shadow === true ? 'shadow\n' : 'primary\n');
      }
      override collectIncomingData(): void {}
      override foundTerminator(): void {}
      override logInfo(): void {}
    }
    const roles: (boolean | undefined)[] = [];
    server = await startMixedServer({
      legacy: Inspecting,
      modern: (_reader, writer, context) => {
        roles.push(context.shadow);
        writer.write('primary\n');
      },
      route: 'legacy',
      shadow: true,
      host: '127.0.0.1',
      port: 0,
    });
    const errors: unknown[] = [];
    server.on('error', (error) => errors.push(error));
    const port = (server.address() as { port: number }).port;
    const client = await openConnection({ host: '127.0.0.1', port });
    expect((await client.reader.readLine()).toString()).to.equal('primary\n');
    await within(1_000, () => roles.length === 1);
    expect(roles).to.deep.equal([true]);
    expect(errors).to.deep.equal([]);
    expect(seen[0]).to.equal('127.0.0.1');
    expect(seen[1]).to.equal('IPv4');
    expect(seen[2]).to.deep.include({ host: '127.0.0.1', port });
    client.writer.close();
  });
});

describe("startMixedServer(): a served socket's listeners and errors", () => {
  let servers: MixedServer[];
  beforeEach(() => {
    servers = [];
  });
  afterEach(async () => {
    await Promise.all(servers.map((server) => server.shutdown({ timeout: 0 })));
  });

  // Each served socket as its implementation first sees it, with its listener counts.
  async function serveSeen(
    options: Partial<MixedServerOptions> = {},
  ): Promise<{ server: MixedServer; seen: Array<[string, net.Socket]>; errors: unknown[] }> {
    const seen: Array<[string, net.Socket]> = [];
    const errors: unknown[] = [];
    const Legacy = class extends LegacyEcho {
      constructor(options: LegacyHandlerOptions) {
        super(options);
        seen.push(['legacy', options.socket as net.Socket]);
      }
    };
    const server = await startMixedServer({
      legacy: Legacy,
      modern: async (reader, writer, context) => {
        seen.push(['modern', writer.getExtraInfo('socket') as net.Socket]);
        await modernEcho(reader, writer, context);
      },
      route: ({ id }) => (id % 2 === 1 ? 'legacy' : 'modern'),
      host: '127.0.0.1',
      port: 0,
      ...options,
    });
    server.on('error', (error) => errors.push(error));
    servers.push(server);
    return { server, seen, errors };
  }

  async function echoed(port: number): Promise<net.Socket> {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('ping');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    return socket;
  }

  for (const limits of [{}, { concurrency: 8, idleTimeout: 60_000 }]) {
    const how =
      Object.keys(limits).length === 0 ? 'without limits' : 'with concurrency and idleTimeout';
    it(`${how}: one 'error' listener per served socket, and a client that resets is a close, not an error`, async () => {
      const { server, seen, errors } = await serveSeen(limits);
      const port = (server.address() as { port: number }).port;
      const clients = [await echoed(port), await echoed(port)];
      expect(seen.map(([kind]) => kind)).to.deep.equal(['legacy', 'modern']);
      for (const [kind, socket] of seen) {
        expect(socket.listenerCount('error'), `${kind} 'error' listeners`).to.equal(1);
        // The core's (which tells the connection too) and the implementation's.
        expect(socket.listenerCount('close'), `${kind} 'close' listeners`).to.equal(2);
      }
      for (const c of clients) c.resetAndDestroy();
      expect(await within(2_000, () => server.connections === 0)).to.equal(true);
      expect(errors).to.deep.equal([]);
      expect(server.stats()).to.include({ active: 0, handlerErrors: 0 });
    });
  }

  it('a socket error while it is being sniffed reaches no one: closed, not routed, nothing uncaught', async () => {
    const { server, errors } = await serveSeen({
      route: { by: 'sniff', bytes: 8, timeout: 60_000, choose: () => 'modern' },
    });
    const port = (server.address() as { port: number }).port;
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    expect(await within(2_000, () => server.connections === 1)).to.equal(true);
    // A reset with nothing sent: the server's socket fails, its only 'error' listener the core's.
    socket.resetAndDestroy();
    expect(await within(2_000, () => server.connections === 0)).to.equal(true);
    expect(errors).to.deep.equal([]);
  });
});
