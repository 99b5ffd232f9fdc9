// The `dispatch-bridge` command as the published package runs it: the compiled CLI (dist/cli)
// started by bin/dispatch-bridge.mjs, with no TypeScript sources and only the runtime
// dependencies installed. This lays out such a package in a temporary directory and runs it.
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

interface Manifest {
  version: string;
  dependencies?: Record<string, string>;
}
const manifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;

/** Links `name` and, recursively, its own dependencies from the project's node_modules. */
function linkRuntimeDependency(name: string, into: string): void {
  const target = path.join(into, name);
  try {
    mkdirSync(path.dirname(target), { recursive: true });
    symlinkSync(path.join(root, 'node_modules', name), target, 'dir');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  const dependencies = manifest(path.join(root, 'node_modules', name)).dependencies ?? {};
  for (const dependency of Object.keys(dependencies)) linkRuntimeDependency(dependency, into);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

describe('cli: the published package', function () {
  this.timeout(60_000);
  let pkg: string;

  before(async () => {
    pkg = mkdtempSync(path.join(os.tmpdir(), 'dispatch-bridge-package-'));
    await run(
      process.execPath,
      [
        path.join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.cli.json',
        '--outDir',
        path.join(pkg, 'dist'),
      ],
      { cwd: root },
    );
    cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    cpSync(path.join(root, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    for (const name of Object.keys(manifest(root).dependencies ?? {})) {
      linkRuntimeDependency(name, path.join(pkg, 'node_modules'));
    }
  });

  after(() => {
    rmSync(pkg, { recursive: true, force: true });
  });

  it('holds no TypeScript source and no dev dependency', () => {
    const files = listFiles(pkg).filter((file) => !file.startsWith('node_modules'));
    expect(files).to.include(path.join('dist', 'cli', 'main.js'));
    expect(files.filter((file) => file.endsWith('.ts'))).to.deep.equal([]);
    expect(readdirSync(path.join(pkg, 'node_modules'))).to.not.include('ts-node');
  });

  it('--version prints the version of package.json', async () => {
    const { stdout } = await run(process.execPath, [
      path.join(pkg, 'bin/dispatch-bridge.mjs'),
      '--version',
    ]);
    expect(stdout.trim()).to.equal(manifest(root).version);
  });

  it('demo --quick runs every style from the compiled CLI and exits 0', async () => {
    const { stdout } = await run(
      process.execPath,
      [path.join(pkg, 'bin/dispatch-bridge.mjs'), 'demo', '--quick'],
      {
        cwd: os.tmpdir(),
      },
    );
    for (const style of ['legacy', 'modern', 'mixed']) {
      expect(stdout).to.match(new RegExp(`^${style} +\\| ✔`, 'm'));
    }
  });

  it('says what to do when the compiled CLI is missing', async () => {
    rmSync(path.join(pkg, 'dist', 'cli'), { recursive: true });
    const failure = (await run(process.execPath, [
      path.join(pkg, 'bin/dispatch-bridge.mjs'),
      '--help',
    ]).then(
      () => expect.fail('the command should have failed'),
      (error: unknown) => error,
    )) as { code: number; stderr: string };
    expect(failure.code).to.equal(1);
    expect(failure.stderr).to.match(/dist[/\\]cli[/\\]main\.js is missing; run `npm run build`/);
  });
});
