import { expect } from 'chai';
import { formatTable, runDemo, type DemoResult } from '../../cli/demo.js';
import { main } from '../../cli/main.js';
import { startExample } from '../../cli/servers.js';

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
