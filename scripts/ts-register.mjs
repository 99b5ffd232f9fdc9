// Registers the module hooks of scripts/ts-hooks.mjs (ts-node in transpile-only mode, plus the
// `dispatch-bridge:source` export condition) so that mocha, `npm start`, `npm run bench` and the
// migration guide's examples run the TypeScript sources directly, in one process:
//   node --import ./scripts/ts-register.mjs migration-guide/examples/pairs/chat-legacy.ts
import { register } from 'node:module';
import process from 'node:process';

process.setSourceMapsEnabled(true); // stack traces point at .ts lines
register('./ts-hooks.mjs', import.meta.url);
