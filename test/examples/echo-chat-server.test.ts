import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { startChatServer, type ChatServer } from '../../examples/echo-chat-server.js';

/** A loopback client that reads the server's lines one at a time. */
class LineClient {
  readonly socket: net.Socket;
  #buffer = '';
  #lines: string[] = [];
  #waiter: ((line: string | null) => void) | null = null;
  #ended = false;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.setEncoding('utf8');
    this.socket.on('data', (text: string) => {
      this.#buffer += text;
      let index: number;
      while ((index = this.#buffer.indexOf('\n')) !== -1) {
        this.#lines.push(this.#buffer.slice(0, index));
        this.#buffer = this.#buffer.slice(index + 1);
      }
      this.#flush();
    });
    this.socket.on('end', () => {
      this.#ended = true;
      this.#flush();
    });
    this.socket.on('error', () => undefined);
  }

  #flush(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    const line = this.#lines.shift();
    if (line !== undefined) {
      this.#waiter = null;
      waiter(line);
    } else if (this.#ended) {
      this.#waiter = null;
      waiter(null);
    }
  }

  /** The next line, or null at end-of-stream. */
  next(): Promise<string | null> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#flush();
    });
  }

  send(line: string): void {
    this.socket.write(`${line}\n`);
  }
}

describe('examples/echo-chat-server.ts', () => {
  let server: ChatServer;
  const clients: LineClient[] = [];
  const logs: string[] = [];

  beforeEach(async () => {
    server = await startChatServer({ port: 0, log: (line) => logs.push(line) });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.destroy();
    server.close();
    await server.done;
  });

  function connect(): LineClient {
    const client = new LineClient(server.address.port);
    clients.push(client);
    return client;
  }

  it('listens on 127.0.0.1 with a real port', () => {
    expect(server.address.host).to.equal('127.0.0.1');
    expect(server.address.port).to.be.above(0);
  });

  it('echoes a line to its sender and broadcasts it to the others', async () => {
    const alice = connect();
    expect(await alice.next()).to.equal('* welcome guest1; commands: /nick NAME, /who, /quit');
    const bob = connect();
    expect(await bob.next()).to.equal('* welcome guest2; commands: /nick NAME, /who, /quit');
    expect(await alice.next()).to.equal('* guest2 joined');
    alice.send('/nick alice');
    expect(await alice.next()).to.equal('* guest1 is now alice');
    expect(await bob.next()).to.equal('* guest1 is now alice');
    alice.send('hello\r');
    expect(await alice.next()).to.equal('<alice> hello');
    expect(await bob.next()).to.equal('<alice> hello');
    bob.send('/who');
    expect(await bob.next()).to.equal('* here: alice, guest2');
    bob.send('/quit');
    expect(await bob.next()).to.equal('* bye');
    expect(await bob.next()).to.equal(null);
    expect(await alice.next()).to.equal('* guest2 left');
    expect(server.clients).to.equal(1);
  });

  it('closes a connection whose line is too long, and goes on serving the others', async () => {
    const carol = connect();
    await carol.next();
    const dave = connect();
    await dave.next();
    await carol.next(); // * guest2 joined
    carol.socket.write('x'.repeat(10_000));
    expect(await carol.next()).to.equal(null);
    expect(await dave.next()).to.equal('* guest1 left');
    expect(logs.some((line) => line.startsWith('error: guest1: Uncaptured error'))).to.equal(true);
    dave.send('still here');
    expect(await dave.next()).to.equal('<guest2> still here');
  });

  it('stops cleanly: close() ends every connection and the loop', async () => {
    const erin = connect();
    await erin.next();
    server.close();
    await server.done;
    expect(await erin.next()).to.equal(null);
  });

  it('runs as its doc comment says, and exits 0 on Ctrl+C (SIGINT)', async function () {
    this.timeout(30_000);
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const source = readFileSync(
      new URL('../../examples/echo-chat-server.ts', import.meta.url),
      'utf8',
    );
    const header = /^\/\*\*[\s\S]*?\*\//.exec(source)?.[0] ?? '';
    const command =
      /`node (--import \.\/scripts\/ts-register\.mjs examples\/echo-chat-server\.ts)`/.exec(
        header ?? '',
      );
    expect(command, 'the command in the doc comment').to.not.equal(null);
    const child = spawn(process.execPath, (command?.[1] ?? '').split(' '), {
      cwd: root,
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      for (let i = 0; i < 2_000 && !/listening on 127\.0\.0\.1:\d+/.test(stdout); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
      const client = new LineClient(port);
      expect(await client.next()).to.match(/^\* welcome guest1/);
      child.kill('SIGINT');
      expect(await client.next()).to.equal(null); // the server closed the connection
      client.socket.destroy();
      expect(await exited).to.deep.equal([0, null]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
