#!/usr/bin/env node
// The `dispatch-bridge` command. In a clone (cli/main.ts is there) it runs the TypeScript sources
// through ts-node in transpile-only mode (scripts/ts-hooks.mjs), as `npm start` and the tests do,
// so edits take effect without a build. In the published package it runs the compiled CLI, dist/cli/main.js, which
// `npm run build` (and so `npm pack`) produces.
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

// Resolve everything from the package root, not from the current directory.
const root = new URL('../', import.meta.url);
const source = new URL('cli/main.ts', root);
let entry = new URL('dist/cli/main.js', root);
if (existsSync(source)) {
  process.env.TS_NODE_PROJECT ??= fileURLToPath(new URL('tsconfig.json', root));
  process.setSourceMapsEnabled(true);
  register('./scripts/ts-hooks.mjs', root);
  entry = source;
} else if (!existsSync(entry)) {
  process.stderr.write(
    `dispatch-bridge: ${fileURLToPath(entry)} is missing; run \`npm run build\` in the package.\n`,
  );
  process.exit(1);
}

const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
// main() has finished, but sockets being closed (a lingering close, bounded by its timeout) may
// keep the process alive a little longer. A Ctrl+C (or SIGTERM) then must not kill it by signal:
// exit at once with main()'s code (signal listeners do not keep the process alive). And when
// nothing is left, exit explicitly from 'beforeExit' rather than by the natural end of the event
// loop, whose teardown restores the default signal actions: a Ctrl+C in that window would kill
// the process by SIGINT instead of letting it exit with main()'s code.
const exitNow = () => process.exit(process.exitCode);
process.on('SIGINT', exitNow);
process.on('SIGTERM', exitNow);
process.once('beforeExit', exitNow);
