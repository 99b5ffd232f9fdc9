import { spawn } from 'node:child_process';
import net from 'node:net';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { STYLES, type Example, type Style } from '../../cli/args.js';
import { main } from '../../cli/main.js';
import { serve, type Serving } from '../../cli/serve.js';
import { UnsupportedExampleError } from '../../cli/servers.js';

/** A loopback client that collects text and resolves each `until()` once `pattern` has arrived. */
class Client {
  text = '';
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  #waiters: (() => void)[] = [];

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect({ host, port });
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => {
      this.text += chunk;
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('error', () => undefined);
  }

  async until(pattern: RegExp | string): Promise<string> {
    const found = (): boolean =>
      typeof pattern === 'string' ? this.text.includes(pattern) : pattern.test(this.text);
    while (!found()) {
      if (this.socket.destroyed)
        throw new Error(`Connection closed before ${String(pattern)}: ${this.text}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        this.socket.once('close', resolve);
      });
    }
    return this.text;
  }
}

const signalCounts = (): number[] => [
  process.listenerCount('SIGINT'),
  process.listenerCount('SIGTERM'),
];

/** Exercises one example over loopback; each check could fail. */
async function exercise(example: Example, port: number, host = '127.0.0.1'): Promise<void> {
  if (example === 'echo') {
    const client = new Client(port, host);
    try {
      client.socket.write('hello\nworld\n');
      expect(await client.until('world\n')).to.equal('hello\nworld\n');
    } finally {
      client.socket.destroy();
    }
  } else if (example === 'kv') {
    const a = new Client(port, host);
    const b = new Client(port, host);
    try {
      a.socket.write('SET city Lyon\n');
      await a.until('OK\n');
      // The store is shared by every connection (in the mixed style: by both implementations).
      b.socket.write('GET city\nQUIT\n');
      await b.closed;
      expect(b.text).to.equal('VALUE Lyon\nBYE\n');
    } finally {
      a.socket.destroy();
      b.socket.destroy();
    }
  } else {
    const a = new Client(port, host);
    try {
      await a.until(/\* welcome user\d+\n/);
      const b = new Client(port, host);
      try {
        const bName = /\* welcome (user\d+)\n/.exec(await b.until(/\* welcome user\d+\n/))![1]!;
        await a.until(`* ${bName} joined\n`);
        b.socket.write('hi all\n');
        await a.until(`<${bName}> hi all\n`);
        b.socket.write('/quit\n');
        await b.closed;
        expect(b.text).to.match(/\* bye\n$/);
      } finally {
        b.socket.destroy();
      }
    } finally {
      a.socket.destroy();
    }
  }
}

describe('cli: serve', () => {
  let serving: Serving | undefined;
  let before: number[];

  beforeEach(() => {
    before = signalCounts();
  });

  afterEach(async () => {
    await serving?.stop();
    serving = undefined;
    expect(signalCounts()).to.deep.equal(before);
  });

  const cases: [Example, Style][] = [
    ...STYLES.map((style): [Example, Style] => ['echo', style]),
    ...STYLES.map((style): [Example, Style] => ['kv', style]),
    // Mixed: consecutive connections go to alternate implementations, so the chat test's two
    // members (one legacy, one modern) must see each other's lines.
    ...STYLES.map((style): [Example, Style] => ['chat', style]),
  ];
  for (const [example, style] of cases) {
    it(`serves ${example} in the ${style} style on port 0 and prints how to reach it`, async () => {
      const out: string[] = [];
      serving = await serve(
        { example, style, host: '127.0.0.1', port: 0, workers: 1 },
        (text) => void out.push(text),
      );
      const { port } = serving.server.address;
      expect(port).to.be.greaterThan(0);
      expect(out.join('')).to.match(
        new RegExp(`listening on 127\\.0\\.0\\.1:${port}\\ntry: nc 127\\.0\\.0\\.1 ${port} `),
      );
      await exercise(example, port);
      await serving.stop();
      expect(serving.server.connections()).to.equal(0);
    });
  }

  it('serves on ::1 too', async () => {
    const out: string[] = [];
    serving = await serve(
      { example: 'kv', style: 'mixed', host: '::1', port: 0, workers: 1 },
      (text) => void out.push(text),
    );
    const { port } = serving.server.address;
    expect(out.join('')).to.include(`listening on [::1]:${port}\ntry: nc ::1 ${port} `);
    await exercise('kv', port, '::1');
  });

  it('stops cleanly on SIGTERM: the port is closed, the connections too, and its signal listeners are gone', async () => {
    const out: string[] = [];
    serving = await serve(
      { example: 'echo', style: 'legacy', host: '127.0.0.1', port: 0, workers: 1 },
      (text) => void out.push(text),
    );
    const { port } = serving.server.address;
    expect(signalCounts()).to.deep.equal(before.map((count) => count + 1));
    const client = new Client(port);
    try {
      client.socket.write('ping\n');
      await client.until('ping\n');
      process.emit('SIGTERM', 'SIGTERM');
      await serving.stopped;
      await client.closed;
      expect(out.at(-1)).to.equal('stopping\n');
      expect(signalCounts()).to.deep.equal(before);
      const refused = await new Promise<string>((resolve) => {
        const probe = net.connect({ host: '127.0.0.1', port });
        probe.on('connect', () => {
          probe.destroy();
          resolve('connected');
        });
        probe.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect(refused).to.equal('ECONNREFUSED');
    } finally {
      client.socket.destroy();
    }
  });

  it('rejects the chat pair on another host than 127.0.0.1 with an UnsupportedExampleError', async () => {
    let error: unknown;
    try {
      serving = await serve({
        example: 'chat',
        style: 'modern',
        host: '::1',
        port: 0,
        workers: 1,
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(UnsupportedExampleError);
  });

  it('main() exits 1 with a clear message when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as net.AddressInfo;
      const err: string[] = [];
      const code = await main(
        ['serve', '--example', 'echo', '--style', 'modern', '--port', String(port)],
        {
          stdout: () => undefined,
          stderr: (text) => void err.push(text),
        },
      );
      expect(code).to.equal(1);
      expect(err.join('')).to.match(/^dispatch-bridge: .*EADDRINUSE/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('--workers 2 runs two processes on one port (a real child process), each connection served, SIGTERM stops all', async function () {
    // Starting node + ts-node three times (primary and two workers) is the slow part.
    this.timeout(30_000);
    const bin = fileURLToPath(new URL('../../bin/dispatch-bridge.mjs', import.meta.url));
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--example', 'echo', '--style', 'modern', '--port', '0', '--workers', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          const match = /2 workers listening on 127\.0\.0\.1:(\d+)\ntry: nc 127\.0\.0\.1 \1 /.exec(
            out,
          );
          if (match) resolve(Number(match[1]));
        });
        void exited.then((code) =>
          reject(new Error(`Exited with ${code} before listening: ${out}`)),
        );
      });
      const clients = [new Client(port), new Client(port)];
      try {
        clients[0]!.socket.write('first\n');
        clients[1]!.socket.write('second\n');
        expect(await clients[0]!.until('first\n')).to.equal('first\n');
        expect(await clients[1]!.until('second\n')).to.equal('second\n');
      } finally {
        for (const client of clients) client.socket.destroy();
      }
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('a Ctrl+C before the command handles signals (while it starts) ends the process as Node would', async function () {
    this.timeout(30_000);
    const bin = fileURLToPath(new URL('../../bin/dispatch-bridge.mjs', import.meta.url));
    const child = spawn(process.execPath, [bin, 'serve', '--example', 'echo', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.once('exit', (code, signal) => resolve([code, signal])),
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    try {
      // In a clone, loading the TypeScript sources takes a while: the command is not serving yet.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(out).to.equal('');
      child.kill('SIGINT');
      expect(await exited).to.deep.equal([null, 'SIGINT']); // not swallowed: no server started
      expect(out).to.equal('');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
