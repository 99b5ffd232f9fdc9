// `npm run bench` is a script the README advertises: this runs it end to end on a tiny workload
// (one row, which brings up its two references beside it), without writing any file, and checks
// that it prints the table and a verdict for each of the row's targets.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { BUSY_ROWS, IDLE_ROWS, QUICK, SCALE_GROUPS } from '../../bench/scale-report.js';

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
        '--scale-parts',
        'none',
      ],
      { cwd: root },
    );
    expect(stdout).to.not.include('### scale');
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

  it('--quick runs every part end to end at a small scale and prints every table and target', async function () {
    this.timeout(900_000);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', './scripts/ts-register.mjs', 'bench/run.ts', '--quick', '--rows', 'raw net'],
      { cwd: root, maxBuffer: 16 * 1024 * 1024 },
    );
    const section = (name: string): string => {
      const start = stdout.indexOf(`\n### ${name}\n`);
      expect(start, `section ${name}`).to.be.greaterThan(-1);
      const end = stdout.indexOf('\n### ', start + 1);
      return stdout.slice(start, end === -1 ? undefined : end);
    };
    const number = '\\d+(?:\\.\\d+)?';
    // Scale: every row at both quick scales, with server, raw net and client CPU and a verdict.
    const scale = section('scale');
    for (const group of SCALE_GROUPS) {
      for (const connections of QUICK.scales) {
        const row = new RegExp(
          `^\\| ${group.servers[0]} \\| ${connections} \\| ${number} \\| ${number} \\| ${number}× `,
          'm',
        );
        expect(scale).to.match(row);
        for (const check of group.checks.filter((c) => c.target !== undefined)) {
          expect(scale).to.include(
            `- ${check.row} at ${connections} connections: server CPU per message `,
          );
          expect(scale).to.match(
            new RegExp(
              `^- ${check.row} at ${connections} connections: server CPU per message ${number}× ${check.reference} \\(target ≤ ${check.target}×\\): (met|MISSED)$`,
              'm',
            ),
          );
        }
      }
    }
    expect(scale).to.match(
      new RegExp(`\\| ${number} core \\| ${number} core \\| ${number} core \\|`),
    );
    expect(scale).to.match(/^- saturation: /m);
    // PROXY header and diagnostics: each row against the same server without.
    expect(section('proxy')).to.match(
      new RegExp(
        `^- modern readLine proxy v1 at 50 connections: server CPU per message ${number}× modern readLine \\(target ≤ 1\\.05×\\): (met|MISSED)$`,
        'm',
      ),
    );
    expect(section('proxy')).to.match(
      /^- mixed proxy v1 at 50 connections: .*× mixed \(target ≤ 1\.05×\): (met|MISSED)$/m,
    );
    for (const row of ['legacy AsyncChat', 'modern readLine', 'mixed']) {
      expect(section('diagnostics')).to.match(
        new RegExp(
          `^- ${row} observed at 50 connections: server CPU per message ${number}× ${row} \\(for information\\)$`,
          'm',
        ),
      );
      expect(section('diagnostics')).to.match(
        new RegExp(
          `^- ${row} at 50 connections: server CPU per message ${number}× raw net \\(target ≤ [\\d.]+×\\): (met|MISSED)$`,
          'm',
        ),
      );
    }
    // Idle memory, busy beside idle, fairness.
    for (const { row } of IDLE_ROWS) {
      expect(section('idle')).to.match(
        new RegExp(`^\\| ${row} \\| 200 \\+ 200 \\| -?${number} \\| -?${number}× raw net \\|`, 'm'),
      );
    }
    for (const { row } of BUSY_ROWS) {
      expect(section('busy')).to.match(
        new RegExp(`^\\| ${row} \\| 200 \\| ${number} \\| ${number} \\| ${number}× \\|`, 'm'),
      );
    }
    expect(section('busy')).to.match(
      /^- legacy AsyncChat: one busy connection beside 200 idle at [\d.]+× its rate alone \(target ≥ 0\.8×\): (met|MISSED)$/m,
    );
    expect(section('fairness')).to.match(
      /^- mixed halves at 200 connections: fewest round trips [\d.]+× the median \(target ≥ 0\.5×\): (met|MISSED)$/m,
    );
    expect(section('fairness')).to.match(
      /^- mixed halves at 200 connections: the halves \(legacy [\d.]+, modern [\d.]+ round trips each\) [\d.]+× apart \(target ≤ 1\.3×\): (met|MISSED)$/m,
    );
    // The quick run writes nothing.
    expect(stdout).to.not.include('Wrote ');
    expect(stdout).to.match(/^The bench took [\d.]+ minutes\.$/m);
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
