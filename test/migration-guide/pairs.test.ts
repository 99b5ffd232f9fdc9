import { expect } from 'chai';
import net from 'node:net';
import process from 'node:process';
import {
  startChatLegacy,
  MAX_BACKLOG_MESSAGES,
  type RunningChat,
} from '../../migration-guide/examples/pairs/chat-legacy.js';
import {
  startChatModern,
  MAX_BACKLOG_BYTES,
} from '../../migration-guide/examples/pairs/chat-modern.js';
import { startEchoLegacy } from '../../migration-guide/examples/pairs/echo-legacy.js';
import { startEchoModern } from '../../migration-guide/examples/pairs/echo-modern.js';
import {
  startProxyLegacy,
  type RunningProxy,
} from '../../migration-guide/examples/pairs/proxy-legacy.js';
import { startProxyModern } from '../../migration-guide/examples/pairs/proxy-modern.js';
import {
  startRequestLegacy,
  type RequestServerOptions,
} from '../../migration-guide/examples/pairs/reqres-legacy.js';
import { startRequestModern } from '../../migration-guide/examples/pairs/reqres-modern.js';
import { runMain } from '../../migration-guide/examples/pairs/_run.js';
import { TestClient, eventually, turn, type ClientOptions } from './_support.js';
import { pythonProblem, startPython } from './_python.js';

type Transcript = string[];

/** What a transcript script needs of a server: where it listens, and how to stop it. */
interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

/** Runs `script` against a fresh server from `start`, always closing server and clients. */
async function transcriptOf<S extends Listening>(
  start: () => Promise<S>,
  script: (server: S, connect: () => Promise<TestClient>) => Promise<Transcript>,
  options: ClientOptions = {},
): Promise<Transcript> {
  const server = await start();
  const clients: TestClient[] = [];
  let transcript: Transcript;
  try {
    transcript = await script(server, async () => {
      const client = await TestClient.connect(server.port, options);
      clients.push(client);
      return client;
    });
  } finally {
    for (const client of clients) client.destroy();
    await server.close();
  }
  // A Python original that logged a traceback (asyncore's handle_error) failed, whatever it sent.
  const stderr = (server as { stderr?: () => string }).stderr;
  if (stderr !== undefined) expect(stderr.call(server)).to.equal('');
  return transcript;
}

/** Bytes 0..255 repeating, from `offset` on: a payload whose corruption is easy to spot. */
function pattern(length: number, offset = 0): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (offset + i) & 0xff;
  return bytes;
}

const variants: [string, ClientOptions][] = [
  ['whole writes', {}],
  ['chunked input (3-byte segments)', { chunkSize: 3 }],
];

describe('migration-guide teaching pairs', function () {
  // Each pair has four implementations: the TypeScript pair and its Python originals (asyncore
  // or asynchat, and asyncio), run with the machine's python3; starting one takes a moment.
  this.timeout(60_000);

  it('the Python originals can run: python3 is there, with asyncore and asynchat (3.11)', () => {
    expect(pythonProblem()).to.equal(undefined);
  });

  it('run from the command line: print where they listen, serve, stop on SIGINT/SIGTERM', async () => {
    const sigint = process.listenerCount('SIGINT');
    const printed: string[] = [];
    const server = await runMain(
      () => startEchoLegacy(),
      'usage line',
      (text) => printed.push(text),
    );
    try {
      expect(printed.join('')).to.equal(
        `listening on 127.0.0.1:${server.port}; try: nc 127.0.0.1 ${server.port}\nusage line\n`,
      );
      expect(process.listenerCount('SIGINT')).to.equal(sigint + 1);
      const client = await TestClient.connect(server.port);
      await client.send('hi\n');
      expect(String(await client.bytes(3))).to.equal('hi\n');
      client.destroy();
    } finally {
      const [stop] = process.listeners('SIGTERM').slice(-1);
      (stop as () => void)(); // what the signal would do: close the server, remove both listeners
      await server.close();
    }
    expect(process.listenerCount('SIGINT')).to.equal(sigint);
    let refused: unknown;
    await TestClient.connect(server.port).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(Error); // it no longer listens
  });

  describe('echo', () => {
    async function echoScript(
      _server: Listening,
      connect: () => Promise<TestClient>,
    ): Promise<Transcript> {
      const transcript: Transcript = [];
      const client = await connect();
      for (const message of ['hello\n', 'two words\r\n', 'é ü ✓\n']) {
        await client.send(message);
        transcript.push(`> ${JSON.stringify(message)}`);
        const back = await client.bytes(Buffer.byteLength(message));
        transcript.push(`< ${JSON.stringify(back.toString('utf8'))}`);
      }
      const big = pattern(200_000);
      const [, back] = await Promise.all([client.sendWhole(big), client.bytes(big.length)]);
      transcript.push(`big payload intact: ${back.equals(big)}`);
      client.socket.end(); // our end-of-stream: the server closes its side too
      transcript.push(`closed by server, unread: ${(await client.end()).length}`);
      return transcript;
    }

    const expected = [
      '> "hello\\n"',
      '< "hello\\n"',
      '> "two words\\r\\n"',
      '< "two words\\r\\n"',
      '> "é ü ✓\\n"',
      '< "é ü ✓\\n"',
      'big payload intact: true',
      'closed by server, unread: 0',
    ];

    for (const [name, options] of variants) {
      it(`all four echo every byte back and close at end-of-stream (${name})`, async () => {
        const legacy = await transcriptOf(() => startEchoLegacy(), echoScript, options);
        const modern = await transcriptOf(() => startEchoModern(), echoScript, options);
        const asyncore = await transcriptOf(
          () => startPython('echo_asyncore.py'),
          echoScript,
          options,
        );
        const asyncio = await transcriptOf(
          () => startPython('echo_asyncio.py'),
          echoScript,
          options,
        );
        expect(legacy).to.deep.equal(expected);
        expect({ modern, asyncore, asyncio }).to.deep.equal({
          modern: legacy,
          asyncore: legacy,
          asyncio: legacy,
        });
      });
    }
  });

  describe('line chat with broadcast', () => {
    async function chatScript(
      _server: Listening,
      connect: () => Promise<TestClient>,
    ): Promise<Transcript> {
      const transcript: Transcript = [];
      const log = (who: string, line: string | null): void => {
        transcript.push(`${who} < ${line ?? '<end>'}`);
      };
      const a = await connect();
      log('A', await a.line());
      const b = await connect();
      log('B', await b.line());
      log('A', await a.line()); // B joined
      await a.send('hello all\n');
      log('B', await b.line());
      await b.send('hi\r\n\n'); // "\r" is dropped, the empty line ignored
      log('A', await a.line());
      const c = await connect();
      log('C', await c.line());
      log('A', await a.line());
      log('B', await b.line());
      await c.send('/quit\n');
      log('C', await c.line());
      log('C', await c.line()); // end-of-stream
      log('A', await a.line());
      log('B', await b.line());
      await b.sendWhole(`${'x'.repeat(3000)}\n`); // longer than MAX_LINE: B is disconnected
      log('B', await b.line());
      log('A', await a.line());
      await a.send('/quit\n');
      log('A', await a.line());
      log('A', await a.line());
      return transcript;
    }

    const expected = [
      'A < * welcome user1',
      'B < * welcome user2',
      'A < * user2 joined',
      'B < <user1> hello all',
      'A < <user2> hi',
      'C < * welcome user3',
      'A < * user3 joined',
      'B < * user3 joined',
      'C < * bye',
      'C < <end>',
      'A < * user3 left',
      'B < * user3 left',
      'B < <end>',
      'A < * user2 left',
      'A < * bye',
      'A < <end>',
    ];

    for (const [name, options] of variants) {
      it(`all four give every client the same lines (${name})`, async () => {
        const legacy = await transcriptOf(() => startChatLegacy(), chatScript, options);
        const modern = await transcriptOf(() => startChatModern(), chatScript, options);
        const asynchat = await transcriptOf(
          () => startPython('chat_asyncore.py'),
          chatScript,
          options,
        );
        const asyncio = await transcriptOf(
          () => startPython('chat_asyncio.py'),
          chatScript,
          options,
        );
        expect(legacy).to.deep.equal(expected);
        expect({ modern, asynchat, asyncio }).to.deep.equal({
          modern: legacy,
          asynchat: legacy,
          asyncio: legacy,
        });
      });
    }

    async function slowClientScript(
      server: RunningChat,
      connect: () => Promise<TestClient>,
    ): Promise<Transcript> {
      const fast = await connect();
      await fast.line(); // welcome user1
      const slow = await connect();
      await slow.line(); // welcome user2
      slow.socket.pause(); // from now on it reads nothing
      await fast.line(); // user2 joined
      const writer = await connect();
      await writer.line(); // welcome user3
      await fast.line(); // user3 joined
      const text = 'y'.repeat(900);
      let sent = 0;
      let received = 0;
      let leftSeen = false;
      // Batches of 100 lines until the slow client is dropped; bounded (at most 36 MB).
      for (let batch = 0; batch < 400 && !leftSeen; batch++) {
        await writer.send(`${text}\n`.repeat(100));
        sent += 100;
        while (received < sent) {
          const line = await fast.line();
          if (line === '* user2 left') leftSeen = true;
          else if (line === `<user3> ${text}`) received++;
          else throw new Error(`Unexpected line: ${String(line)}`);
        }
      }
      slow.socket.resume(); // read what the kernel still held for it, then see the close
      await slow.closed;
      const stats = server.stats();
      return [
        `slow client dropped and announced: ${leftSeen}`,
        `fast client got every line: ${received === sent}`,
        `kicked: ${stats.kicked}, members left: ${stats.members}`,
      ];
    }

    it('both styles drop a client that does not read, with a bounded backlog', async () => {
      let legacyPeak = 0;
      let modernPeak = 0;
      const legacy = await transcriptOf(
        () => startChatLegacy(),
        async (server, connect) => {
          const transcript = await slowClientScript(server, connect);
          legacyPeak = server.stats().peakBacklog;
          return transcript;
        },
      );
      const modern = await transcriptOf(
        () => startChatModern(),
        async (server, connect) => {
          const transcript = await slowClientScript(server, connect);
          modernPeak = server.stats().peakBacklog;
          return transcript;
        },
      );
      expect(legacy).to.deep.equal([
        'slow client dropped and announced: true',
        'fast client got every line: true',
        'kicked: 1, members left: 2',
      ]);
      expect(modern).to.deep.equal(legacy);
      // The bound held: one message (legacy) or one line's bytes (modern) over it at most.
      expect(legacyPeak).to.be.within(1, MAX_BACKLOG_MESSAGES + 1);
      expect(modernPeak).to.be.within(1, MAX_BACKLOG_BYTES + 1000);
    });
  });

  describe('request/response with timeouts', () => {
    const timeoutOptions: RequestServerOptions = { requestTimeout: 50 };
    const isoDate = /^OK \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

    async function requestScript(
      _server: Listening,
      connect: () => Promise<TestClient>,
    ): Promise<Transcript> {
      const transcript: Transcript = [];
      const client = await connect();
      const ask = async (request: string, answers = 1): Promise<void> => {
        await client.send(request);
        transcript.push(`> ${JSON.stringify(request)}`);
        for (let i = 0; i < answers; i++) {
          const line = await client.line();
          // The time differs between runs: check its shape, compare the rest.
          transcript.push(`< ${line !== null && isoDate.test(line) ? 'OK <iso date>' : line}`);
        }
      };
      await ask('TIME\n');
      await ask('ECHO hello world\r\n');
      await ask('ECHO\n');
      await ask('SLOW 0\n');
      await ask('SLOW 60000\n'); // far past the 50 ms request timeout
      await ask('SLOW soon\n');
      await ask('NOPE\n');
      await ask('ECHO a\nSLOW 60000\nECHO b\n', 3); // pipelined: answered in order
      await ask('QUIT\nECHO never answered\n', 2);
      return transcript;
    }

    const expected = [
      '> "TIME\\n"',
      '< OK <iso date>',
      '> "ECHO hello world\\r\\n"',
      '< OK hello world',
      '> "ECHO\\n"',
      '< OK ',
      '> "SLOW 0\\n"',
      '< OK slept 0',
      '> "SLOW 60000\\n"',
      '< ERROR timeout',
      '> "SLOW soon\\n"',
      '< ERROR bad argument',
      '> "NOPE\\n"',
      '< ERROR unknown command',
      '> "ECHO a\\nSLOW 60000\\nECHO b\\n"',
      '< OK a',
      '< ERROR timeout',
      '< OK b',
      '> "QUIT\\nECHO never answered\\n"',
      '< OK bye',
      '< null',
    ];

    for (const [name, options] of variants) {
      it(`all four answer in order and time out slow requests (${name})`, async () => {
        const legacy = await transcriptOf(
          () => startRequestLegacy(timeoutOptions),
          requestScript,
          options,
        );
        const modern = await transcriptOf(
          () => startRequestModern(timeoutOptions),
          requestScript,
          options,
        );
        const timeout = ['--request-timeout', String(timeoutOptions.requestTimeout)];
        const asynchat = await transcriptOf(
          () => startPython('reqres_asyncore.py', timeout),
          requestScript,
          options,
        );
        const asyncio = await transcriptOf(
          () => startPython('reqres_asyncio.py', timeout),
          requestScript,
          options,
        );
        expect(legacy).to.deep.equal(expected);
        expect({ modern, asynchat, asyncio }).to.deep.equal({
          modern: legacy,
          asynchat: legacy,
          asyncio: legacy,
        });
      });
    }

    const timers = (): number =>
      process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

    for (const [style, start] of [
      ['legacy', startRequestLegacy],
      ['modern', startRequestModern],
    ] as const) {
      it(`${style}: a half-closed client still gets every answer, then the close`, async () => {
        const server = await start(timeoutOptions);
        try {
          const client = await TestClient.connect(server.port);
          await client.send('ECHO a\nSLOW 0\nECHO b\n');
          client.socket.end(); // like `printf ... | nc`: our end-of-stream right after the requests
          const rest = await client.end();
          expect(rest.toString()).to.equal('OK a\nOK slept 0\nOK b\n');
          await eventually(() => server.connections() === 0);
          expect(server.connections()).to.equal(0);
        } finally {
          await server.close();
        }
      });

      it(`${style}: a client that leaves mid-request: the deadline ends it, no timer is left`, async () => {
        const server = await start({ requestTimeout: 30 });
        try {
          const before = timers();
          const client = await TestClient.connect(server.port);
          await client.send('SLOW 60000\n');
          await eventually(() => timers() > before); // the request is running
          client.destroy();
          // Neither style reads while a request runs, so neither notices the departure before
          // the request's deadline; then the answer fails or the next read sees end-of-stream.
          await eventually(() => server.connections() === 0, 5_000_000);
          expect(timers()).to.equal(before);
        } finally {
          await server.close();
        }
      });
    }
  });

  describe('TCP proxy with backpressure', () => {
    /** A plain node:net echo server: the proxies' target. */
    async function withTarget<T>(
      serve: (socket: net.Socket) => void,
      body: (target: { host: string; port: number }) => Promise<T>,
    ): Promise<T> {
      const target = net.createServer(serve);
      await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
      const { port } = target.address() as net.AddressInfo;
      try {
        return await body({ host: '127.0.0.1', port });
      } finally {
        target.close();
        await new Promise<void>((resolve) => target.once('close', resolve));
      }
    }

    const echoSocket = (socket: net.Socket): void => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    };

    const starters = [
      ['legacy', startProxyLegacy],
      ['modern', startProxyModern],
    ] as const;

    async function proxyScript(
      _proxy: Listening,
      connect: () => Promise<TestClient>,
    ): Promise<Transcript> {
      const transcript: Transcript = [];
      const client = await connect();
      for (const message of ['ping\n', 'through the proxy\n']) {
        await client.send(message);
        const back = await client.bytes(Buffer.byteLength(message));
        transcript.push(`${JSON.stringify(message)} -> ${JSON.stringify(back.toString())}`);
      }
      const big = pattern(1_000_000);
      const [, back] = await Promise.all([client.sendWhole(big), client.bytes(big.length)]);
      transcript.push(`1 MB intact: ${back.equals(big)}`);
      client.socket.end();
      transcript.push(`closed, unread: ${(await client.end()).length}`);
      return transcript;
    }

    /** The TypeScript proxies also tell what they hold once the connection is gone: nothing. */
    async function proxyScriptThenBuffers(
      proxy: RunningProxy,
      connect: () => Promise<TestClient>,
    ): Promise<Transcript> {
      const transcript = await proxyScript(proxy, connect);
      await eventually(() => proxy.buffered() === 0);
      transcript.push(`proxy buffers empty: ${proxy.buffered() === 0}`);
      return transcript;
    }

    for (const [name, options] of variants) {
      it(`all four forward both ways and close together (${name})`, async () => {
        const transcripts = await withTarget(echoSocket, async (target) => {
          const results: Transcript[] = [];
          for (const [, start] of starters) {
            results.push(await transcriptOf(() => start(target), proxyScriptThenBuffers, options));
          }
          const to = ['--target', `${target.host}:${target.port}`];
          for (const file of ['proxy_asyncore.py', 'proxy_asyncio.py']) {
            // The same script; a Python proxy has no buffered() to ask, hence no last line.
            results.push(await transcriptOf(() => startPython(file, to), proxyScript, options));
          }
          return results;
        });
        expect(transcripts[0]).to.deep.equal([
          '"ping\\n" -> "ping\\n"',
          '"through the proxy\\n" -> "through the proxy\\n"',
          '1 MB intact: true',
          'closed, unread: 0',
          'proxy buffers empty: true',
        ]);
        const common = transcripts[0]?.slice(0, -1);
        expect(transcripts.slice(1)).to.deep.equal([transcripts[0], common, common]);
      });
    }

    const TOTAL = 16 * 1024 * 1024;
    // What either proxy may hold for one connection: its limits plus a few socket chunks. Far
    // below TOTAL, which an unbounded proxy would end up holding for a client that does not read.
    const BOUND = 256 * 1024;

    for (const [style, start] of starters) {
      it(`${style}: a client that does not read stops the target, memory stays bounded`, async () => {
        let written = 0;
        let finished = false;
        // The target sends TOTAL bytes as fast as the proxy takes them (honouring backpressure).
        const source = (socket: net.Socket): void => {
          socket.on('error', () => undefined);
          const step = 64 * 1024;
          const more = (): void => {
            while (written < TOTAL) {
              const ok = socket.write(pattern(step, written));
              written += step;
              if (!ok) {
                socket.once('drain', more);
                return;
              }
            }
            finished = true;
            socket.end();
          };
          more();
        };
        await withTarget(source, async (target) => {
          const proxy = await start(target);
          const client = await TestClient.connect(proxy.port);
          try {
            client.socket.pause(); // a slow reader: reads nothing for now
            await eventually(() => proxy.paused());
            const held = proxy.buffered();
            for (let i = 0; i < 20; i++) await turn(); // still stalled, and still bounded
            expect(proxy.paused()).to.equal(true);
            expect(held).to.be.at.most(BOUND);
            expect(proxy.buffered()).to.be.at.most(BOUND);
            expect(finished, 'the target was slowed down').to.equal(false);
            expect(written).to.be.below(TOTAL);
            client.socket.resume(); // now read everything: nothing was lost on the way
            const received = await client.end();
            expect(received.length).to.equal(TOTAL);
            expect(received.equals(pattern(TOTAL))).to.equal(true);
          } finally {
            client.destroy();
            await proxy.close();
          }
        });
      });
    }
  });
});
