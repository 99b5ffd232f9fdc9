// The conformance suite: one line protocol (examples/kv-protocol.ts), implemented once
// as a legacy AsyncChat class and once as a modern stream handler, served by four servers:
//
//   all legacy        listening Dispatcher + loop() + the AsyncChat class
//   all modern        startServer() + the stream handler
//   legacy on modern  startServer(asStreamHandler(AsyncChat class))
//   modern on legacy  listening Dispatcher + loop() + asDispatcherClass(stream handler)
//
// The same client script must get the same bytes back from each, however its input is split.
import { expect } from 'chai';
import fc from 'fast-check';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { asDispatcherClass, asStreamHandler } from '../../src/adapter/index.js';
import { Dispatcher, SocketMap, loop, type Address } from '../../src/legacy/index.js';
import { startServer } from '../../src/modern/index.js';
import {
  MAX_LINE,
  execute,
  kvChatClass,
  kvHandler,
  type Store,
} from '../../examples/kv-protocol.js';

interface KvServer {
  name: string;
  port: number;
  /** Open connections on the server side. */
  connections(): number;
  close(): Promise<void>;
}

async function legacyServer(
  name: string,
  accept: (socket: Duplex, map: SocketMap) => void,
): Promise<KvServer> {
  const map = new SocketMap();
  class Listener extends Dispatcher {
    override handleAccepted(socket: Duplex): void {
      accept(socket, map);
    }
  }
  const listener = new Listener({ map });
  listener.bind({ host: '127.0.0.1', port: 0 });
  await listener.listen();
  const running = loop({ map, timeout: 1_000 });
  const { port } = listener.address() as Extract<Address, { port: number }>;
  return {
    name,
    port,
    connections: () => map.size - 1,
    close: async () => {
      map.closeAll();
      await running;
    },
  };
}

async function modernServer(
  name: string,
  handler: Parameters<typeof startServer>[0],
): Promise<KvServer> {
  const server = await startServer(handler, { host: '127.0.0.1', port: 0, limit: MAX_LINE });
  const { port } = server.address() as { port: number };
  return {
    name,
    port,
    connections: () => server.connections,
    close: () => server.shutdown({ timeout: 1_000 }),
  };
}

function startAll(): Promise<KvServer[]> {
  const KvChat = kvChatClass(new Map());
  const Connection = asDispatcherClass(kvHandler(new Map()), { limit: MAX_LINE });
  return Promise.all([
    legacyServer('all legacy', (socket, map) => new KvChat({ socket, map })),
    modernServer('all modern', kvHandler(new Map())),
    modernServer('legacy on modern', asStreamHandler(kvChatClass(new Map()))),
    legacyServer('modern on legacy', (socket, map) => new Connection({ socket, map })),
  ]);
}

/** Sends `chunks` (one write per event-loop turn) and returns everything received until close. */
function runClient(port: number, chunks: readonly Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const received: Buffer[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(received).toString('utf8')));
    socket.once('connect', () => {
      void (async () => {
        for (const chunk of chunks) {
          if (socket.destroyed) return;
          socket.write(chunk);
          await new Promise((next) => setImmediate(next));
        }
      })();
    });
  });
}

/** What a correct server answers to `input` (the reference model). */
function expectedReply(input: string): string {
  const store: Store = new Map();
  let out = '';
  let rest = input;
  for (;;) {
    const end = rest.indexOf('\n');
    const length = Buffer.byteLength(end === -1 ? rest : rest.slice(0, end));
    if (length > MAX_LINE) return `${out}ERROR line too long\n`;
    if (end === -1) return out;
    const { reply, close } = execute(store, rest.slice(0, end));
    out += `${reply}\n`;
    if (close) return out;
    rest = rest.slice(end + 1);
  }
}

function splitAt(data: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % data.length))]
    .filter((p) => p > 0)
    .sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(data.subarray(start, point));
    start = point;
  }
  chunks.push(data.subarray(start));
  return chunks;
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000 && !condition(); turn++) {
    await new Promise((next) => setImmediate(next));
  }
  expect(condition()).to.equal(true);
}

describe('conformance: key-value line protocol on four servers', () => {
  let servers: KvServer[] = [];

  before(async () => {
    servers = await startAll();
  });

  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  async function expectSameEverywhere(chunks: readonly Buffer[], expected: string): Promise<void> {
    const replies = await Promise.all(servers.map((server) => runClient(server.port, chunks)));
    for (const [index, server] of servers.entries()) {
      expect(replies[index], server.name).to.equal(expected);
    }
  }

  it('answers a session identically: SET, GET, DEL, unknown, QUIT then close', async () => {
    const input = [
      'SET greeting hello world',
      'GET greeting',
      'GET missing',
      'DEL greeting',
      'DEL greeting',
      'GET greeting',
      'FROB x',
      'SET onlykey',
      'SET crlf yes\r',
      'GET crlf',
      'QUIT',
      '',
    ].join('\n');
    const expected = [
      'OK',
      'VALUE hello world',
      'NOT_FOUND',
      'DELETED',
      'NOT_FOUND',
      'NOT_FOUND',
      'ERROR unknown command',
      'ERROR unknown command',
      'OK',
      'VALUE yes',
      'BYE',
      '',
    ].join('\n');
    expect(expectedReply(input)).to.equal(expected);
    await expectSameEverywhere([Buffer.from(input)], expected);
  });

  it('ignores input after QUIT', async () => {
    const input = 'SET q 1\nQUIT\nDEL q\nSET r 2\n';
    await expectSameEverywhere([Buffer.from(input)], 'OK\nBYE\n');
    // The lines after QUIT did nothing: a new connection still finds q and not r.
    await expectSameEverywhere([Buffer.from('GET q\nGET r\nQUIT\n')], 'VALUE 1\nNOT_FOUND\nBYE\n');
  });

  it('answers an over-long line with ERROR line too long, then closes', async () => {
    const input = `SET o 1\n${'x'.repeat(MAX_LINE + 1)}\nGET o\n`;
    await expectSameEverywhere([Buffer.from(input)], 'OK\nERROR line too long\n');
  });

  it('accepts a line of exactly the limit', async () => {
    const value = 'v'.repeat(MAX_LINE - 'SET long '.length);
    const input = `SET long ${value}\nGET long\nQUIT\n`;
    expect(`SET long ${value}`.length).to.equal(MAX_LINE);
    await expectSameEverywhere([Buffer.from(input)], `OK\nVALUE ${value}\nBYE\n`);
  });

  it('gives the same answers when the input arrives one byte at a time', async () => {
    const input = Buffer.from('SET y 1\nGET y\nDEL y\nGET y\nQUIT\n');
    const bytes = [...input].map((byte) => Buffer.from([byte]));
    await expectSameEverywhere(bytes, 'OK\nVALUE 1\nDELETED\nNOT_FOUND\nBYE\n');
  });

  it('gives the same answers for random scripts split into random chunks (seeded)', async () => {
    // Keys are made fresh for every run ('@' becomes a run prefix): each server's store outlives
    // its connections.
    let run = 0;
    const key = fc.constantFrom('@a', '@b', '@c');
    const value = fc.stringMatching(/^[a-z0-9 ]{0,12}$/);
    const command = fc.oneof(
      fc.tuple(key, value).map(([k, v]) => `SET ${k} ${v}`),
      key.map((k) => `GET ${k}`),
      key.map((k) => `DEL ${k}`),
      fc.constantFrom('HELLO', 'get a', '', 'SET', 'GET a b'),
      fc.tuple(key, value).map(([k, v]) => `SET ${k} ${v}\r`),
    );
    const ending = fc.oneof(
      fc.constant('QUIT\n'),
      fc.integer({ min: MAX_LINE + 1, max: MAX_LINE + 300 }).map((n) => `${'z'.repeat(n)}\n`),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { maxLength: 30 }),
        ending,
        fc.array(fc.nat(), { maxLength: 12 }),
        async (commands, last, cuts) => {
          run += 1;
          const script = commands.map((line) => `${line}\n`).join('') + last;
          const input = script.replaceAll('@', `r${run}_`);
          const data = Buffer.from(input);
          await expectSameEverywhere(splitAt(data, cuts), expectedReply(input));
        },
      ),
      { seed: 20261126, numRuns: 40 },
    );
  });

  it('leaves no connection open on any server', async () => {
    for (const server of servers) await waitUntil(() => server.connections() === 0);
  });
});
