// Registers ts-node's ESM hooks (transpile-only: `tsc` does the type checking) so that mocha,
// `npm start` and `npm run bench` run the TypeScript sources directly, in one process.
import { register } from 'node:module';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

process.setSourceMapsEnabled(true);
register('ts-node/esm/transpile-only', pathToFileURL('./'));
