import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const legacyIndex = pathToFileURL(
  new URL('../../src/legacy/index.ts', import.meta.url).pathname,
).href;

// Runs the README's legacy quick start for real: a line goes through the echo server over TCP,
// then the example's own teardown runs and its loop() resolves.
const probe = `
const net = await import('node:net');
const { port } = server.address() as { port: number };
const client = net.connect({ host: '127.0.0.1', port });
client.setEncoding('utf8');
let received = '';
client.on('data', (text: string) => (received += text));
client.write('hello readme\\nquit\\n');
await new Promise((resolve) => client.on('end', resolve));
client.destroy();
(globalThis as Record<string, unknown>).readmeQuickStart = received;
`;

describe('README legacy quick start', () => {
  it('runs: echoes a line, closes on quit, and tears down', async () => {
    const section = readme.slice(
      readme.indexOf('<!-- section:legacy -->'),
      readme.indexOf('<!-- /section:legacy -->'),
    );
    const match = /```ts\n([\s\S]*?)```/.exec(section);
    expect(match, 'a ts code block in the legacy section').to.not.equal(null);
    const source = (match?.[1] ?? '')
      .replace("'dispatch-bridge/legacy'", `'${legacyIndex}'`)
      .replace('// ... teardown:', probe);
    expect(source).to.contain('readmeQuickStart');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const dir = mkdtempSync(join(tmpdir(), 'dispatch-bridge-readme-'));
    try {
      const file = join(dir, 'quick-start.mjs');
      writeFileSync(file, outputText);
      await import(pathToFileURL(file).href);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect((globalThis as Record<string, unknown>).readmeQuickStart).to.equal('hello readme\n');
  });
});
