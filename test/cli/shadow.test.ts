import net from 'node:net';
import process from 'node:process';
import { expect } from 'chai';
import { parseArgs, UsageError } from '../../cli/args.js';
import { main } from '../../cli/main.js';
import { serve } from '../../cli/serve.js';
import { startShadowExample, UnsupportedExampleError } from '../../cli/servers.js';
import { startShadowed } from '../../cli/shadow.js';
import { Store, newStats } from '../../migration-guide/examples/steps/_kv.js';
import { kvChannelClass } from '../../migration-guide/examples/steps/kv-legacy.js';
import type { StreamHandler } from '../../src/modern/index.js';
import { within } from '../helpers/peers.js';

/** Sends `script`, ends, and resolves with everything the server sent until it closed. */
function talk(port: number, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.end(script);
  });
}

/** A kv client's commands, on keys of its own (the store is shared by the connections). */
const kvScript = (p: string): string =>
  `SET ${p}a 1\nINCR ${p}n\nINCR ${p}n\nGET ${p}a\nKEYS ${p}\nDUMP ${p}\nGET\nQUIT\n`;
const kvReply = (p: string): string =>
  `OK\nINTEGER 1\nINTEGER 2\nVALUE 1\nKEYS 2\n${p}a\n${p}n\n${p}a 1\n${p}n 2\nEND 2\n` +
  'ERROR wrong number of arguments\nBYE\n';

describe('cli: serve --shadow (the in-process shadow)', () => {
  it('parses --shadow, and refuses it with --style mixed, --workers or a value', () => {
    expect(parseArgs(['serve', '--example', 'kv', '--shadow'])).to.deep.include({
      command: 'serve',
      example: 'kv',
      style: 'legacy',
      shadow: true,
    });
    expect(parseArgs(['serve', '--shadow', '--style=modern', '--log'])).to.deep.include({
      style: 'modern',
      shadow: true,
      log: true,
    });
    expect(parseArgs(['serve'])).to.not.have.property('shadow');
    expect(() => parseArgs(['serve', '--shadow', '--style', 'mixed'])).to.throw(
      UsageError,
      'needs --style legacy or modern',
    );
    expect(() => parseArgs(['serve', '--shadow', '--workers', '2'])).to.throw(
      UsageError,
      'drop --workers',
    );
    expect(() => parseArgs(['serve', '--shadow=yes'])).to.throw(UsageError, 'takes no value');
    expect(() => parseArgs(['serve', '--shadow', '--shadow'])).to.throw(UsageError, 'given twice');
  });

  for (const example of ['echo', 'kv'] as const) {
    for (const primary of ['legacy', 'modern'] as const) {
      it(`${example}, ${primary} primary: clients get the primary's replies, nothing diverges, the summary says so`, async () => {
        const lines: string[] = [];
        const server = await startShadowExample(
          example,
          primary,
          { host: '127.0.0.1', port: 0, summaryEvery: 10 },
          (line) => lines.push(line),
        );
        try {
          for (const p of ['one:', 'two:']) {
            const script = example === 'kv' ? kvScript(p) : `hello ${p}\nworld\n`;
            const reply = example === 'kv' ? kvReply(p) : script;
            expect(await talk(server.address.port, script)).to.equal(reply);
          }
          // The running summary, printed once the totals changed.
          await within(5_000, () =>
            lines.includes('summary: 2 connections, 0 diverged, 0 shadows dropped, 0 errors\n'),
          );
          await within(5_000, () => server.connections() === 0);
        } finally {
          await server.close();
        }
        expect(lines.filter((line) => !line.startsWith('summary: '))).to.deep.equal([]);
        expect(lines.at(-1)).to.equal(
          'summary: 2 connections, 0 diverged, 0 shadows dropped, 0 errors\n',
        );
        expect(server.counters()).to.deep.include({ divergences: 0, shadowDrops: 0 });
        expect(server.counters()[primary].routed).to.equal(2);
      });
    }
  }

  it('prints each divergence: where, both sides and which style, and counts it', async () => {
    const stats = newStats();
    // A modern port with a planted bug: INCR answers one too many.
    const planted: StreamHandler = async (reader, writer) => {
      for await (const line of reader) {
        writer.write(line.toString() === 'INCR n\n' ? 'INTEGER 2\n' : 'OK\n');
        await writer.drain();
      }
    };
    const lines: string[] = [];
    const server = await startShadowed(
      {
        legacy: kvChannelClass(new Store(), stats),
        modern: planted,
        primary: 'legacy',
        host: '127.0.0.1',
        port: 0,
      },
      (line) => lines.push(line),
    );
    try {
      expect(await talk(server.address.port, 'SET a 1\nINCR n\n')).to.equal('OK\nINTEGER 1\n');
      await within(5_000, () => lines.some((line) => line.startsWith('divergence')));
    } finally {
      await server.close();
    }
    expect(lines[0]).to.match(
      /^divergence on connection \d+ at byte 11: legacy "OK\\nINTEGER 1\\n" vs modern "OK\\nINTEGER 2\\n" \(from byte 0\)\n$/,
    );
    expect(lines.at(-1)).to.equal(
      'summary: 1 connections, 1 diverged, 0 shadows dropped, 0 errors\n',
    );
  });

  it('refuses the chat example with an UnsupportedExampleError that says why', async () => {
    let error: unknown;
    await startShadowExample(
      'chat',
      'legacy',
      { host: '127.0.0.1', port: 0 },
      () => undefined,
    ).catch((caught: unknown) => (error = caught));
    expect(error).to.be.instanceOf(UnsupportedExampleError);
    expect((error as Error).message).to.contain('depends on the other members');
    const err: string[] = [];
    const code = await main(['serve', '--example', 'chat', '--shadow', '--port', '0'], {
      stdout: () => undefined,
      stderr: (text) => err.push(text),
    });
    expect(code).to.equal(2);
    expect(err.join('')).to.contain('Cannot serve the chat example with --shadow');
  });

  it('serve(): prints what shadows what, and the last summary once stopped', async () => {
    const out: string[] = [];
    const serving = await serve(
      { example: 'kv', style: 'modern', host: '127.0.0.1', port: 0, workers: 1, shadow: true },
      (text) => void out.push(text),
    );
    try {
      const { port } = serving.server.address;
      expect(out[0]).to.match(
        new RegExp(
          `^dispatch-bridge: kv \\(modern style, legacy shadow\\) listening on 127\\.0\\.0\\.1:${port}\n`,
        ),
      );
      expect(await talk(port, kvScript('s:'))).to.equal(kvReply('s:'));
      await within(5_000, () => serving.server.connections() === 0);
      process.emit('SIGTERM', 'SIGTERM');
      await serving.stopped;
    } finally {
      await serving.stop();
    }
    expect(out.slice(-2)).to.deep.equal([
      'stopping\n',
      'summary: 1 connections, 0 diverged, 0 shadows dropped, 0 errors\n',
    ]);
  });
});
