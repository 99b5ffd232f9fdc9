// scripts/ts-register.mjs: what `npm test`, `npm start` and the guide's examples run under.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

describe('scripts/ts-register.mjs', function () {
  this.timeout(30_000);
  let dir: string;

  before(() => {
    // A project that installed the package (a link to this clone), as a user's would be.
    dir = mkdtempSync(path.join(os.tmpdir(), 'dispatch-bridge-register-'));
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(root, path.join(dir, 'node_modules', 'dispatch-bridge'), 'dir');
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `source` as a .ts file under the register, from the repository root. */
  async function runTs(source: string): Promise<{ stdout: string; stderr: string }> {
    const file = path.join(dir, `script-${Math.random().toString(36).slice(2)}.ts`);
    writeFileSync(file, source);
    return run(process.execPath, ['--import', './scripts/ts-register.mjs', file], { cwd: root });
  }

  it('runs TypeScript that imports dispatch-bridge/legacy from src/ (the source condition), with no warning', async () => {
    // Without the condition, the import would need dist/ (npm run build).
    const { stdout, stderr } = await runTs(
      [
        "import { SocketMap } from 'dispatch-bridge/legacy';",
        "import { Queue } from 'dispatch-bridge/modern';",
        'const size: number = new SocketMap().size;',
        "console.log(size, new Queue<string>(1.5).maxSize, import.meta.resolve('dispatch-bridge/legacy'));",
      ].join('\n'),
    );
    const [size, maxSize, resolved] = stdout.trim().split(' ');
    expect([size, maxSize]).to.deep.equal(['0', '1.5']);
    expect(resolved).to.equal(new URL('src/legacy/index.ts', `file://${root}`).href);
    // Node 22 would print ts-node's DEP0180 (fs.Stats constructor) here without the hooks' filter.
    expect(stderr).to.equal('');
  });

  it("drops only ts-node's DEP0180 while it loads: the program's own warnings still print", async () => {
    const { stderr } = await runTs(
      "process.emitWarning('still shown', { type: 'DeprecationWarning', code: 'DEP0180' });",
    );
    expect(stderr).to.match(/\[DEP0180\] DeprecationWarning: still shown/);
  });
});
