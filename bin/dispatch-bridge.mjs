#!/usr/bin/env node
// The `dispatch-bridge` command. The CLI is TypeScript (cli/main.ts), run through ts-node in
// transpile-only mode, as `npm start` and the tests run it: this needs the dev dependencies, so
// the command works from a clone or a dev install (`npm install` in the repository).
import { register } from 'node:module';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

// Resolve everything from the package root, not from the current directory.
const root = new URL('../', import.meta.url);
process.env.TS_NODE_PROJECT ??= fileURLToPath(new URL('tsconfig.json', root));
process.setSourceMapsEnabled(true);
register('ts-node/esm/transpile-only', root);

const { main } = await import(new URL('cli/main.ts', root).href);
process.exitCode = await main(process.argv.slice(2));
