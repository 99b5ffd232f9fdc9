// `npm run bench` is a script the README advertises: this runs it end to end on a tiny workload
// (one row, which brings up its two references beside it), without writing any file, and checks
// that it prints the table and a verdict for each of the row's targets.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('bench runner', function () {
  this.timeout(60_000);

  it('measures a row beside its references and prints the table and its verdicts', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        './scripts/ts-register.mjs',
        'bench/run.ts',
        '--rows',
        'modern chunks',
        '--rounds',
        '1',
        '--connections',
        '4',
        '--messages',
        '20',
        '--bulk-mb',
        '1',
        '--no-events',
        '--no-write',
      ],
      { cwd: root },
    );
    expect(stdout).to.match(
      /^\| modern chunks \| \d+ \| [\d.]+ \| [\d.]+× raw net \| ≤ 1\.25× \|/m,
    );
    expect(stdout).to.match(
      /^- modern chunks: server CPU per message [\d.]+× raw net .*: (met|MISSED)$/m,
    );
    expect(stdout).to.match(
      /^- modern chunks: server CPU per message [\d.]+× for await .*: (met|MISSED)$/m,
    );
    expect(stdout).to.include('4 connections × 20 messages');
  });

  it('rejects an unknown row before starting anything', async () => {
    const run = promisify(execFile)(
      process.execPath,
      ['--import', './scripts/ts-register.mjs', 'bench/run.ts', '--rows', 'no such row'],
      { cwd: root },
    );
    const error = (await run.then(
      () => expect.fail('bench should have failed'),
      (e: unknown) => e,
    )) as { code: number; stderr: string };
    expect(error.code).to.not.equal(0);
    expect(error.stderr).to.include('Unknown row "no such row"');
  });
});
