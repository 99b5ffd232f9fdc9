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

// Signals. While main() runs, the commands handle SIGINT/SIGTERM themselves (serve closes, the demo
// stops). Node reverts a signal to its default action (die) the moment its last listener is
// removed, and a Ctrl+C landing in that instant, however short, kills the process. So this
// listener stays for the whole life of the process, keeping the count above zero:
// - while main() runs it does nothing if a command listens too; alone (say, during startup) it
//   acts as Node's default would: it steps aside and re-raises the signal;
// - once main() has finished (sockets being closed may keep the process alive a little longer:
//   a lingering close, bounded by its timeout), it exits at once with main()'s code.
// And when nothing is left, exit explicitly from 'beforeExit' rather than by the natural end of
// the event loop, whose teardown also reverts the signals to their default action.
let finished = false;
const exitNow = () => process.exit(process.exitCode);
const onSignal = (signal) => {
  if (finished) exitNow();
  else if (process.listenerCount(signal) === 1) {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
finished = true;
process.once('beforeExit', exitNow);
