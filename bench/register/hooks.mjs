// Module hooks for the bench's child processes: the TypeScript sources transpiled as
// scripts/ts-hooks.mjs does (TypeScript's transpileModule, no type checking: `tsc` does that),
// but cached on disk by content, so that the ~50 server processes a full `npm run bench` starts
// each take a fraction of a second instead of seconds of ts-node start-up. Relative `.js`
// specifiers resolve to the `.ts` file beside them, as under NodeNext. Nothing here is published.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const CACHE = join(tmpdir(), 'dispatch-bridge-bench', 'ts-cache');
mkdirSync(CACHE, { recursive: true });
let ts;

export async function resolve(specifier, context, nextResolve) {
  if (
    (specifier.startsWith('.') || specifier.startsWith('file:')) &&
    specifier.endsWith('.js') &&
    context.parentURL?.endsWith('.ts')
  ) {
    const url = new URL(specifier, context.parentURL);
    const asTs = new URL(url.href.replace(/\.js$/, '.ts'));
    if (!existsSync(fileURLToPath(url)) && existsSync(fileURLToPath(asTs))) {
      return { url: asTs.href, format: 'module', shortCircuit: true };
    }
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const text = readFileSync(path, 'utf8');
  const key = createHash('sha256').update(path).update('\0').update(text).digest('hex');
  const cached = join(CACHE, `${key}.js`);
  if (existsSync(cached)) {
    return { format: 'module', source: readFileSync(cached, 'utf8'), shortCircuit: true };
  }
  ts ??= (await import('typescript')).default;
  const { outputText } = ts.transpileModule(text, {
    fileName: path,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      inlineSourceMap: true,
      inlineSources: false,
    },
  });
  const partial = `${cached}.${process.pid}`;
  writeFileSync(partial, outputText);
  renameSync(partial, cached);
  return { format: 'module', source: outputText, shortCircuit: true };
}
