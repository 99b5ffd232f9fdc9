// Module hooks (run in Node's hooks thread) that run this clone's TypeScript sources directly:
// ts-node in transpile-only mode (`tsc` does the type checking), plus the package's
// `dispatch-bridge:source` export condition, so that `import … from 'dispatch-bridge/legacy'` in the
// examples, tests and guide resolves to src/legacy/index.ts instead of the built dist/ files.
// Loaded by scripts/ts-register.mjs; nothing here is published.
import process from 'node:process';

/** The export condition of package.json that points the package's entry points at src/*.ts. */
export const SOURCE_CONDITION = 'dispatch-bridge:source';

// ts-node 10.9 constructs an fs.Stats when its ESM resolver loads, which Node 22 deprecates
// (DEP0180, printed on every run). Drop that one warning while ts-node loads, and nothing else.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const [typeOrOptions, code] = rest;
  const warningCode = typeof typeOrOptions === 'object' ? typeOrOptions?.code : code;
  if (warningCode === 'DEP0180') return;
  return Reflect.apply(emitWarning, this, [warning, ...rest]);
};
let tsNode;
try {
  tsNode = await import('ts-node/esm/transpile-only');
} finally {
  process.emitWarning = emitWarning;
}

/** Resolves like ts-node, with the source condition added to the active ones. */
export function resolve(specifier, context, nextResolve) {
  const conditions = [...(context.conditions ?? []), SOURCE_CONDITION];
  return tsNode.resolve(specifier, { ...context, conditions }, nextResolve);
}

export const { load } = tsNode;
