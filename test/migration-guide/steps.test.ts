import { expect } from 'chai';
import { readFile, readdir, stat } from 'node:fs/promises';
import type { KvOptions, RunningKv } from '../../migration-guide/examples/steps/_kv.js';
import { start as step0 } from '../../migration-guide/examples/steps/step0-legacy.js';
import { start as step1 } from '../../migration-guide/examples/steps/step1-adapter.js';
import { start as step2 } from '../../migration-guide/examples/steps/step2-modern-host.js';
import { start as step2Shadow } from '../../migration-guide/examples/steps/step2-shadow.js';
import { MAX_LINE, Store, newStats } from '../../migration-guide/examples/steps/_kv.js';
import { kvChannelClass } from '../../migration-guide/examples/steps/kv-legacy.js';
import { kvHandler } from '../../migration-guide/examples/steps/kv-modern.js';
import { SocketMap, loop } from '../../src/legacy/index.js';
import { fromDuplex } from '../../src/modern/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import type { Duplex } from 'node:stream';
import { start as step3 } from '../../migration-guide/examples/steps/step3-modern.js';
import { TestClient, eventually, turn, type ClientOptions } from './_support.js';
import { LONG_TRANSCRIPT, commands, expected, smallClient, tooLongClient } from './_kv-script.js';

type Start = (options?: KvOptions) => Promise<RunningKv>;

// Steps 1 and 2 alternate legacy and modern connections, so both implementations serve clients.
const steps: [string, Start, KvOptions][] = [
  ['step 0 (all legacy)', step0, {}],
  ['step 1 (legacy server, first async handler)', step1, { modern: 0.5 }],
  ['step 2 (modern server, remaining legacy handlers)', step2, { modern: 0.5 }],
  ['step 3 (all modern)', step3, {}],
];

const BULK_KEYS = 1_000;
/** DUMPs of the bulk keys sent at once: ~10 MB out, far more than loopback socket buffers hold. */
const DUMPS = 10;
const bulkKey = (i: number, prefix = 'bulk:'): string => `${prefix}${String(i).padStart(6, '0')}`;
const bulkValue = (i: number): string => `${i}:`.padEnd(1000, 'v');

/**
 * A bulk client: loads ~1 MB, then DUMPs it 10 times while not reading, until the server has
 * stopped producing (the dump waits for the client: backpressure, not buffering); then reads all.
 */
async function bulkClient(
  client: TestClient,
  prefix: string,
  server: RunningKv,
  othersDone: Promise<unknown>,
): Promise<string[]> {
  const transcript: string[] = [];
  const sets: string[] = [];
  for (let i = 0; i < BULK_KEYS; i++) sets.push(`SET ${bulkKey(i, prefix)} ${bulkValue(i)}\n`);
  await client.sendWhole(sets.join(''));
  let ok = 0;
  for (let i = 0; i < BULK_KEYS; i++) if ((await client.line()) === 'OK') ok++;
  transcript.push(`SET replies OK: ${ok}`);
  await othersDone; // so that the dump counter counts this client's lines only

  const before = server.stats().dumpLines;
  client.socket.pause(); // a slow reader: reads nothing for now
  await client.send(`DUMP ${prefix}\n`.repeat(DUMPS));
  // Wait until the dump has started and then made no progress for 50 event-loop turns in a row.
  let last = -1;
  let still = 0;
  await eventually(() => {
    const now = server.stats().dumpLines - before;
    still = now === last && now > 0 ? still + 1 : 0;
    last = now;
    return still >= 50;
  });
  transcript.push(`dump waited for the client: ${last < DUMPS * BULK_KEYS}`);
  client.socket.resume();
  for (let dump = 0; dump < DUMPS; dump++) {
    let good = 0;
    for (let i = 0; i < BULK_KEYS; i++) {
      if ((await client.line()) === `${bulkKey(i, prefix)} ${bulkValue(i)}`) good++;
    }
    transcript.push(`dump lines correct: ${good}`, (await client.line()) ?? '<end>');
  }
  transcript.push(`dump lines produced: ${server.stats().dumpLines - before}`);
  await client.send('QUIT\n');
  transcript.push((await client.line()) ?? '<end>');
  transcript.push((await client.end()).length === 0 ? '<end>' : '<end, unexpected>');
  return transcript;
}

/** Runs the whole script against a fresh server; returns the transcripts, one per client. */
async function runScript(start: Start, options: KvOptions): Promise<Record<string, string[]>> {
  const server = await start(options);
  const clients: TestClient[] = [];
  const connect = async (clientOptions: ClientOptions = {}): Promise<TestClient> => {
    const client = await TestClient.connect(server.port, clientOptions);
    clients.push(client);
    // Connect one at a time, so that the canary of steps 1 and 2 routes them in this order.
    await eventually(() => server.connections() === clients.length);
    return client;
  };
  try {
    const c1 = await connect();
    const c2 = await connect({ chunkSize: 3 });
    const c3 = await connect();
    const c4 = await connect({ chunkSize: 7 });
    // Steps 1 and 2 route the odd connections to legacy, the even ones to modern.
    const bulkLegacy = await connect();
    const bulkModern = await connect();
    const long = await connect({ chunkSize: 100 });
    const small = Promise.all([
      smallClient(c1, 'c1:'),
      smallClient(c2, 'c2:'),
      smallClient(c3, 'c3:'),
      smallClient(c4, 'c4:'),
      tooLongClient(long),
    ]);
    // One bulk client after the other, so that each one's dump counter is its own.
    const first = bulkClient(bulkLegacy, 'bulk1:', server, small);
    const second = bulkClient(bulkModern, 'bulk2:', server, Promise.all([small, first]));
    const [[t1, t2, t3, t4, tl], tb1, tb2] = await Promise.all([small, first, second]);
    await eventually(() => server.connections() === 0);
    const stats = server.stats();
    return {
      c1: t1 ?? [],
      c2: t2 ?? [],
      c3: t3 ?? [],
      c4: t4 ?? [],
      bulk1: tb1,
      bulk2: tb2,
      long: tl ?? [],
      server: [
        `errors: ${stats.errors.length}`,
        `connections served: ${stats.legacy + stats.modern}`,
        `legacy served: ${stats.legacy > 0}`,
        `modern served: ${stats.modern > 0}`,
      ],
    };
  } finally {
    for (const client of clients) client.destroy();
    await server.close();
  }
}

describe('migration-guide step-by-step migration', () => {
  const transcripts: Record<string, string[]>[] = [];

  for (const [name, start, options] of steps) {
    it(`${name}: the client script gets correct replies`, async () => {
      const transcript = await runScript(start, options);
      transcripts.push(transcript);
      for (const client of ['c1', 'c2', 'c3', 'c4']) {
        expect(transcript[client], client).to.deep.equal(expected(`${client}:`));
      }
      const bulk = [
        `SET replies OK: ${BULK_KEYS}`,
        'dump waited for the client: true',
        ...Array.from({ length: DUMPS }, () => [
          `dump lines correct: ${BULK_KEYS}`,
          `END ${BULK_KEYS}`,
        ]).flat(),
        `dump lines produced: ${DUMPS * BULK_KEYS}`,
        'BYE',
        '<end>',
      ];
      expect(transcript.bulk1).to.deep.equal(bulk);
      expect(transcript.bulk2).to.deep.equal(bulk);
      expect(transcript.long).to.deep.equal(LONG_TRANSCRIPT);
      expect(transcript.server?.slice(0, 2)).to.deep.equal(['errors: 0', 'connections served: 7']);
      const { legacy, modern } = { legacy: name !== steps[3]?.[0], modern: name !== steps[0]?.[0] };
      expect(transcript.server?.slice(2)).to.deep.equal([
        `legacy served: ${legacy}`,
        `modern served: ${modern}`,
      ]);
    });
  }

  it('every step gives the same transcripts, client by client', () => {
    expect(transcripts).to.have.length(steps.length);
    const [first, ...others] = transcripts.map((transcript) => {
      const { server, ...clients } = transcript;
      void server; // which implementation served is the one thing that may differ
      return clients;
    });
    for (const other of others) expect(other).to.deep.equal(first);
  });

  for (const [name, start, options] of steps) {
    it(`${name}: a client that resets mid-DUMP is a close, not an error, and nothing leaks`, async () => {
      const server = await start(options);
      try {
        // Step 1 and 2 route the second connection to the async handler, the first to legacy.
        for (let round = 0; round < 2; round++) {
          const client = await TestClient.connect(server.port);
          try {
            // 1 MB of data, dumped 12 times: 12 MB, more than socket buffers hold.
            const sets: string[] = [];
            for (let i = 0; i < 1000; i++) sets.push(`SET ${bulkKey(i)} ${bulkValue(i)}\n`);
            await client.sendWhole(sets.join(''));
            for (let i = 0; i < 1000; i++) expect(await client.line()).to.equal('OK');
            const before = server.stats().dumpLines;
            client.socket.pause();
            await client.send('DUMP bulk:\n'.repeat(12));
            await eventually(() => server.stats().dumpLines > before);
            client.socket.resetAndDestroy(); // a reset, with the dump still in flight
            await eventually(() => server.connections() === 0);
            for (let i = 0; i < 20; i++) await turn();
            expect(server.stats().dumpLines - before).to.be.below(12 * 1000);
          } finally {
            client.destroy();
          }
        }
        expect(server.stats().errors).to.deep.equal([]);
      } finally {
        await server.close();
      }
    });
  }

  it('a client that connects and leaves at once is no error in any step', async () => {
    for (const [, start, options] of steps) {
      const server = await start(options);
      try {
        const clients = [
          await TestClient.connect(server.port),
          await TestClient.connect(server.port),
        ];
        await eventually(() => server.connections() === 2);
        clients[0]?.destroy();
        clients[1]?.socket.end();
        await clients[1]?.end();
        await eventually(() => server.connections() === 0);
        for (let i = 0; i < 10; i++) await turn();
        expect(server.stats().errors).to.deep.equal([]);
      } finally {
        await server.close();
      }
    }
  });

  it('both handlers give the same bytes over an in-memory duplex too (no TCP assumed)', async () => {
    /** Writes the script in small pieces, returns everything the handler sent until it closed. */
    async function talk(end: Duplex, script: string): Promise<string> {
      const received: Buffer[] = [];
      end.on('data', (chunk: Buffer) => received.push(chunk));
      const ended = new Promise((resolve) => end.once('end', resolve));
      for (let offset = 0; offset < script.length; offset += 5) {
        end.write(script.slice(offset, offset + 5));
        await turn();
      }
      await ended;
      return Buffer.concat(received).toString();
    }
    const script = `${commands('m:')}QUIT\nGET m:b\n`;

    const [legacyServer, legacyClient] = duplexPair({ highWaterMark: 64 });
    const map = new SocketMap();
    new (kvChannelClass(new Store(), newStats()))({ socket: legacyServer, map });
    const loopDone = loop({ map });
    const legacyBytes = await talk(legacyClient, script);
    await loopDone;

    const [modernServer, modernClient] = duplexPair({ highWaterMark: 64 });
    const { reader, writer } = fromDuplex(modernServer, { limit: MAX_LINE });
    const served = (async () => {
      await kvHandler(new Store(), newStats())(reader, writer, {
        signal: new AbortController().signal,
        id: 1,
        remoteAddress: { path: '' },
      });
      writer.close();
      await writer.waitClosed();
    })();
    const modernBytes = await talk(modernClient, script);
    await served;

    const lines = expected('m:').slice(0, -1); // without '<end>'
    expect(legacyBytes).to.equal(`${lines.join('\n')}\n`);
    expect(modernBytes).to.equal(legacyBytes);
    expect(map.size).to.equal(0);
    legacyClient.destroy();
    modernClient.destroy();
  });

  describe('step 2 in shadow mode', () => {
    for (const primary of ['modern', 'legacy'] as const) {
      it(`${primary} primary: clients get correct replies and the shadow agrees byte for byte`, async () => {
        const logged: string[] = [];
        const server = await step2Shadow({ primary, log: (line) => logged.push(line) });
        const clients: TestClient[] = [];
        try {
          for (const chunkSize of [Infinity, 3, 11]) {
            clients.push(await TestClient.connect(server.port, { chunkSize }));
          }
          const long = await TestClient.connect(server.port, { chunkSize: 100 });
          clients.push(long);
          const transcripts = await Promise.all([
            ...clients.slice(0, 3).map((client, i) => smallClient(client, `s${i}:`)),
            tooLongClient(long),
          ]);
          await eventually(() => server.settled());
          expect(transcripts).to.deep.equal([
            expected('s0:'),
            expected('s1:'),
            expected('s2:'),
            LONG_TRANSCRIPT,
          ]);
          expect(server.divergences).to.deep.equal([]);
          expect(server.dropped).to.deep.equal([]);
          expect(logged).to.deep.equal([]);
          const stats = server.stats();
          expect([stats.legacy, stats.modern, stats.errors.length]).to.deep.equal([4, 4, 0]);
        } finally {
          for (const client of clients) client.destroy();
          await server.close();
        }
      });
    }

    it('reports where a faulty shadow differs, while the client still gets the primary', async () => {
      // A legacy INCR that counts by two: the kind of bug a shadow run is there to find.
      class FaultyStore extends Store {
        override incr(key: string): number | undefined {
          super.incr(key);
          return super.incr(key);
        }
      }
      const logged: string[] = [];
      const server = await step2Shadow({
        stores: { legacy: new FaultyStore() },
        log: (line) => logged.push(line),
      });
      const client = await TestClient.connect(server.port);
      try {
        expect(await smallClient(client, 'f:')).to.deep.equal(expected('f:'));
        await eventually(() => server.settled());
        expect(server.divergences).to.have.length(1);
        const [report] = server.divergences;
        expect(report?.primaryImplementation).to.equal('modern');
        const offset = 'OK\nVALUE hello world\nNOT_FOUND\nINTEGER '.length;
        expect(report?.offset).to.equal(offset);
        expect(report?.primary.toString()).to.match(/INTEGER 1\n/);
        expect(report?.shadow.toString()).to.match(/INTEGER 2\n/);
        expect(logged).to.have.length(1);
        expect(logged[0]).to.match(/^kv: connection \d+ diverges at byte \d+: modern sent /);
      } finally {
        client.destroy();
        await server.close();
      }
    });
  });
});

describe('migration-guide/step-by-step.md', () => {
  const root = new URL('../../migration-guide/', import.meta.url);
  let page = '';
  let sources = '';

  before(async () => {
    page = await readFile(new URL('step-by-step.md', root), 'utf8');
    const files = await readdir(new URL('examples/steps/', root));
    const texts = await Promise.all(
      files.map((file) => readFile(new URL(`examples/steps/${file}`, root), 'utf8')),
    );
    sources = texts.join('\n');
  });

  it('links only to files that exist', async () => {
    const targets = [...page.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)].map((match) => match[1] ?? '');
    expect(targets.length).to.be.greaterThan(5);
    const missing: string[] = [];
    for (const target of new Set(targets)) {
      try {
        await stat(new URL(target, root));
      } catch {
        missing.push(target);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('shows diffs whose added lines are in the step files, as written', () => {
    const blocks = [...page.matchAll(/```diff\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
    expect(blocks).to.have.length(3);
    const added = blocks
      .flatMap((block) => block.split('\n'))
      .filter((line) => line.startsWith('+') && !line.includes('/*'))
      .map((line) => line.slice(1).trim())
      .filter((line) => line.length > 0);
    expect(added.length).to.be.greaterThan(20);
    expect(added.filter((line) => !sources.includes(line))).to.deep.equal([]);
  });
});
