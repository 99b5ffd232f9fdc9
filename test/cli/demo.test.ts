import { expect } from 'chai';
import net from 'node:net';
import { formatTable, runDemo, type DemoResult } from '../../cli/demo.js';
import { main } from '../../cli/main.js';
import { startExample, type RunningExample } from '../../cli/servers.js';

/** Resolves true when nothing listens on 127.0.0.1:`port` any more. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('cli: demo', () => {
  it('--quick: every style answers the transcript and the load correctly, with plain progress lines off a TTY', async () => {
    const lines: string[] = [];
    const result = await runDemo({
      quick: true,
      tty: false,
      write: (text) => void lines.push(text),
    });
    expect(result.allCorrect).to.equal(true);
    expect(result.rows.map((row) => row.style)).to.deep.equal(['legacy', 'modern', 'mixed']);
    for (const row of result.rows) {
      expect(row.problems).to.deep.equal([]);
      expect(row.correct).to.equal(true);
      expect(row.messages).to.equal(result.connections * result.messagesPerConnection);
      expect(row.messagesPerSecond).to.be.greaterThan(0);
      expect(row.cpuMicrosPerMessage).to.be.greaterThan(0);
    }
    expect(result.connections * result.messagesPerConnection).to.equal(200);
    // One line per step, no cursor movement.
    expect(lines.every((line) => line.endsWith('\n') && !line.includes('\r'))).to.equal(true);
    expect(lines.join('')).to.include('mixed: load 4 connections × 50 requests\n');
  });

  it('on a TTY rewrites one progress line in place and clears it at the end', async () => {
    const chunks: string[] = [];
    const result = await runDemo({
      tty: true,
      connections: 2,
      messagesPerConnection: 40,
      write: (text) => void chunks.push(text),
    });
    expect(result.allCorrect).to.equal(true);
    expect(chunks.every((chunk) => chunk.startsWith('\r\x1b[2K'))).to.equal(true);
    expect(
      chunks.some((chunk) => /legacy: load 2 connections × 40 requests \d+%$/.test(chunk)),
    ).to.equal(true);
    expect(chunks.at(-1)).to.equal('\r\x1b[2K');
  });

  it('marks a style ✘ and the whole run incorrect when its server answers wrongly (echo is not kv)', async () => {
    const result = await runDemo({
      tty: false,
      connections: 2,
      messagesPerConnection: 10,
      write: () => undefined,
      start: (style) =>
        startExample(style === 'modern' ? 'echo' : 'kv', style, { host: '127.0.0.1', port: 0 }),
    });
    expect(result.allCorrect).to.equal(false);
    expect(result.rows.map((row) => row.correct)).to.deep.equal([true, false, true]);
    const [problem] = result.rows[1]!.problems;
    expect(problem).to.match(/^transcript 1: expected "NOT_FOUND\\nOK\\n/);
    expect(formatTable(result)).to.include('modern | ✘ ');
  });

  it('an aborted signal interrupts the load: the server closes, the progress line is cleared, it rejects with the reason', async () => {
    const chunks: string[] = [];
    const interrupt = new AbortController();
    const reason = new Error('Ctrl+C');
    const started: RunningExample[] = [];
    const running = runDemo({
      tty: true,
      connections: 4,
      messagesPerConnection: 1_000_000, // would run for minutes
      signal: interrupt.signal,
      start: async (style) => {
        const server = await startExample('kv', style, { host: '127.0.0.1', port: 0 });
        started.push(server);
        return server;
      },
      write: (text) => {
        chunks.push(text);
        if (/load 4 connections/.test(text)) interrupt.abort(reason);
      },
    });
    let error: unknown;
    await running.catch((e: unknown) => (error = e));
    expect(error).to.equal(reason);
    expect(started).to.have.length(1); // no other style was started
    expect(await refused(started[0]!.address.port)).to.equal(true);
    expect(chunks.at(-1)).to.equal('\r\x1b[2K'); // the prompt will not land on the progress line
  });

  it('main(["demo"]) exits 130 on SIGINT, says so on stderr, and removes its signal listeners', async () => {
    const listeners = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const out: string[] = [];
    const err: string[] = [];
    let sent = false;
    const code = await main(['demo'], {
      stdout: (text) => {
        out.push(text);
        if (!sent && /load 32 connections/.test(text)) {
          sent = true;
          process.emit('SIGINT', 'SIGINT');
          process.emit('SIGINT', 'SIGINT'); // a second Ctrl+C changes nothing
        }
      },
      stderr: (text) => void err.push(text),
    });
    expect(sent).to.equal(true);
    expect(code).to.equal(130);
    expect(err.join('')).to.equal('dispatch-bridge: demo interrupted\n');
    expect(out.join('')).to.not.include('messages/s'); // no table
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).to.deep.equal(
      listeners,
    );
  });

  it('main(["demo", "--quick"]) prints the table and exits 0', async () => {
    const out: string[] = [];
    const code = await main(['demo', '--quick'], {
      stdout: (text) => void out.push(text),
      stderr: (text) => void out.push(text),
    });
    expect(code).to.equal(0);
    expect(out.join('')).to.match(/style {2}\| correct \| messages\/s \| CPU µs\/message\*\n/);
  });
});

describe('cli: the demo table', () => {
  const result: DemoResult = {
    connections: 32,
    messagesPerConnection: 1000,
    allCorrect: false,
    rows: [
      {
        style: 'legacy',
        correct: true,
        problems: [],
        messages: 32000,
        messagesPerSecond: 28389.4,
        cpuMicrosPerMessage: 34.51,
      },
      {
        style: 'modern',
        correct: true,
        problems: [],
        messages: 32000,
        messagesPerSecond: 1234567,
        cpuMicrosPerMessage: 7,
      },
      {
        style: 'mixed',
        correct: false,
        problems: ['3 wrong replies during the load'],
        messages: 32000,
        messagesPerSecond: 999.6,
        cpuMicrosPerMessage: 120.04,
      },
    ],
  };

  it('prints one aligned row per style: ✔/✘, messages per second with separators, µs with one decimal', () => {
    const lines = formatTable(result).split('\n');
    expect(lines.slice(0, 7)).to.deep.equal([
      'The key-value protocol, 32 connections × 1000 requests per style:',
      '',
      'style  | correct | messages/s | CPU µs/message*',
      '-------|---------|------------|----------------',
      'legacy | ✔       |     28,389 |            34.5',
      'modern | ✔       |  1,234,567 |             7.0',
      'mixed  | ✘       |      1,000 |           120.0',
    ]);
  });

  it('ends with the footnote on how CPU was measured, and what went wrong', () => {
    const text = formatTable(result);
    expect(text).to.include('* process.cpuUsage() of this process during the load');
    expect(text).to.include('the servers and the load client run\n  in the same process');
    expect(text.endsWith('✘ mixed: 3 wrong replies during the load\n')).to.equal(true);
  });
});
