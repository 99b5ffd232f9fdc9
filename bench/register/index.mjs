// `node --import ./bench/register/index.mjs file.ts`: runs the bench's TypeScript with the cached
// transpiler of ./hooks.mjs (see there). The bench starts its child processes with it.
import { register } from 'node:module';
import process from 'node:process';

process.setSourceMapsEnabled(true);
register('./hooks.mjs', import.meta.url);
