import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { USAGE, UsageError, parseArgs } from '../../cli/args.js';
import { main } from '../../cli/main.js';

function capture(): {
  out: string[];
  err: string[];
  io: { stdout(t: string): void; stderr(t: string): void };
} {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) } };
}

describe('cli: parseArgs', () => {
  it('runs the full demo with no arguments, and a quick one with --quick', () => {
    expect(parseArgs([])).to.deep.equal({ command: 'demo', quick: false });
    expect(parseArgs(['demo'])).to.deep.equal({ command: 'demo', quick: false });
    expect(parseArgs(['demo', '--quick'])).to.deep.equal({ command: 'demo', quick: true });
    expect(parseArgs(['--quick'])).to.deep.equal({ command: 'demo', quick: true });
  });

  it('gives serve its defaults: chat, legacy, 127.0.0.1:7000, one process', () => {
    expect(parseArgs(['serve'])).to.deep.equal({
      command: 'serve',
      example: 'chat',
      style: 'legacy',
      host: '127.0.0.1',
      port: 7000,
      workers: 1,
    });
  });

  it('accepts every serve flag, as --flag value and as --flag=value', () => {
    expect(
      parseArgs([
        'serve',
        '--example',
        'kv',
        '--style=mixed',
        '--port',
        '0',
        '--host=::1',
        '--workers',
        '4',
      ]),
    ).to.deep.equal({
      command: 'serve',
      example: 'kv',
      style: 'mixed',
      host: '::1',
      port: 0,
      workers: 4,
    });
  });

  it('answers --help and -h anywhere, and --version / -v', () => {
    expect(parseArgs(['--help'])).to.deep.equal({ command: 'help' });
    expect(parseArgs(['serve', '--port', '1', '-h'])).to.deep.equal({ command: 'help' });
    expect(parseArgs(['--version'])).to.deep.equal({ command: 'version' });
    expect(parseArgs(['-v'])).to.deep.equal({ command: 'version' });
  });

  const bad: [string[], RegExp][] = [
    [['serve', '--colour', 'red'], /^Unknown flag `--colour` for serve$/],
    [
      ['serve', '--style', 'async'],
      /^Invalid value for --style: expected one of legacy, modern, mixed, got `async`$/,
    ],
    [
      ['serve', '--example=ftp'],
      /^Invalid value for --example: expected one of chat, echo, kv, got `ftp`$/,
    ],
    [
      ['serve', '--port', '65536'],
      /^Invalid value for --port: expected an integer from 0 to 65535, got `65536`$/,
    ],
    [
      ['serve', '--port', '-1'],
      /^Invalid value for --port: expected an integer from 0 to 65535, got `-1`$/,
    ],
    [['serve', '--port', '8o'], /^Invalid value for --port: expected an integer/],
    [
      ['serve', '--workers', '0'],
      /^Invalid value for --workers: expected an integer from 1 to 64, got `0`$/,
    ],
    [['serve', '--port'], /^Missing value for --port$/],
    [['serve', '--port', '1', '--port', '2'], /^Flag `--port` given twice$/],
    [['serve', '--host='], /^Invalid value for --host: expected an address$/],
    [['serve', 'extra'], /^Unexpected argument `extra`$/],
    [['demo', '--fast'], /^Unknown flag `--fast` for demo$/],
    [['demo', 'now'], /^Unexpected argument `now`$/],
    [['start'], /^Unknown command `start`: expected demo, serve or proxy$/],
    [['--port', '1'], /^Unknown flag `--port`$/],
    [['--version', 'x'], /^Unexpected argument `x`$/],
    [['serve', '--port', '--host', 'x'], /^Missing value for --port$/],
    [['serve', '-p', '1'], /^Unknown flag `-p` for serve$/],
    [['serve', '--', '--port'], /^Unexpected argument `--port`$/],
    [['demo', '--quick=yes'], /^Flag `--quick` takes no value$/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects ${JSON.stringify(argv)} with a UsageError`, () => {
      expect(() => parseArgs(argv))
        .to.throw(UsageError)
        .with.property('message')
        .that.matches(message);
    });
  }
});

describe('cli: main', () => {
  it('--help says that a bare dispatch-bridge runs the demo, and what Ctrl+C does', () => {
    expect(parseArgs([])).to.deep.equal(parseArgs(['demo']));
    expect(USAGE).to.match(/^ {2}dispatch-bridge \[demo\] \[--quick\]$/m);
    expect(USAGE).to.include('With no command at all, dispatch-bridge runs this demo');
    expect(USAGE).to.match(/Ctrl\+C interrupts it: the servers close, and it exits 130/);
    expect(USAGE).to.match(/a second Ctrl\+C while\s+it closes changes nothing[^]*exits 0/);
  });

  it('prints the usage for --help and exits 0', async () => {
    const { out, err, io } = capture();
    expect(await main(['--help'], io)).to.equal(0);
    expect(out.join('')).to.equal(USAGE);
    expect(err).to.deep.equal([]);
  });

  it("prints package.json's version for --version", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      version: string;
    };
    const { out, io } = capture();
    expect(await main(['--version'], io)).to.equal(0);
    expect(out.join('')).to.equal(`${version}\n`);
  });

  it('exits 2 on a bad flag, with the message and the usage on stderr', async () => {
    const { out, err, io } = capture();
    expect(await main(['serve', '--style', 'async'], io)).to.equal(2);
    expect(out).to.deep.equal([]);
    const text = err.join('');
    expect(text).to.match(
      /^dispatch-bridge: Invalid value for --style: expected one of legacy, modern, mixed/,
    );
    expect(text.endsWith(USAGE)).to.equal(true);
  });

  it('exits 2 for an example that cannot run where asked (the chat pair on ::1)', async () => {
    const { err, io } = capture();
    expect(await main(['serve', '--example', 'chat', '--host', '::1', '--port', '0'], io)).to.equal(
      2,
    );
    expect(err.join('')).to.match(
      /^dispatch-bridge: Cannot serve the chat example on ::1: the chat pair listens on 127\.0\.0\.1 only\n\nUsage:/,
    );
  });
});
