// Every ```ts block of README.md and migration-guide/*.md compiles on its own, as a reader would
// paste it into a file of an ESM project ("type": "module") that installed dispatch-bridge: strict,
// `module: nodenext`. A block that is deliberately a fragment (class members, a piece of a file
// shown in full elsewhere) is marked with `<!-- excerpt -->` on the last non-blank line before its
// fence, and is skipped. The package's `dispatch-bridge:source` condition resolves `dispatch-bridge/legacy` etc. to
// src/*.ts, so no build is needed.
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The marker (the last non-blank line before a fence) of a block not meant to compile alone. */
export const EXCERPT_MARKER = '<!-- excerpt -->';

/** A fenced ```ts block: where it is, and its text. */
export interface CodeBlock {
  /** The markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the first line of code (the line after the opening fence). */
  line: number;
  code: string;
  excerpt: boolean;
}

/** The ```ts (or ```typescript) blocks of a markdown text. */
export function codeBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(ts|typescript)\s*$/.exec(lines[i] ?? '');
    if (open === null) continue;
    const [, indent = '', fence = ''] = open;
    const start = i + 1;
    let end = start;
    while (end < lines.length && (lines[end] ?? '').trim() !== fence) end++;
    const code = lines
      .slice(start, end)
      .map((text) => (text.startsWith(indent) ? text.slice(indent.length) : text))
      .join('\n');
    // Prettier puts a blank line between the marker and the fence: skip blank lines.
    let before = i - 1;
    while (before >= 0 && (lines[before] ?? '').trim() === '') before--;
    const previous = (lines[before] ?? '').trim();
    blocks.push({ file, line: start + 1, code, excerpt: previous === EXCERPT_MARKER });
    i = end;
  }
  return blocks;
}

function documents(): string[] {
  const guide = readdirSync(path.join(root, 'migration-guide'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => path.join('migration-guide', name));
  return ['README.md', ...guide];
}

/** Type-checks each block as its own module; returns "file:line: message" per diagnostic. */
function compile(blocks: CodeBlock[]): string[] {
  const virtual = new Map<string, CodeBlock>();
  for (const block of blocks) {
    const name = `${block.file.replaceAll(/[/.]/g, '_')}_${block.line}.ts`;
    // Beside the package.json, so that the package's name resolves (a self-reference) and the
    // files are ESM, as in a project that installed the package.
    virtual.set(path.join(root, 'test', 'docs', '__blocks__', name), block);
  }
  const options: ts.CompilerOptions = {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    customConditions: ['dispatch-bridge:source'],
    moduleDetection: ts.ModuleDetectionKind.Force,
    skipLibCheck: true,
    noEmit: true,
  };
  const disk = ts.createCompilerHost(options, true);
  const host: ts.CompilerHost = {
    ...disk,
    fileExists: (name) => virtual.has(name) || disk.fileExists(name),
    readFile: (name) => virtual.get(name)?.code ?? disk.readFile(name),
    getSourceFile: (name, language, onError, create) => {
      const block = virtual.get(name);
      if (block !== undefined) return ts.createSourceFile(name, block.code, language, true);
      return disk.getSourceFile(name, language, onError, create);
    },
  };
  const program = ts.createProgram([...virtual.keys()], options, host);
  const problems: string[] = [];
  for (const [name, block] of virtual) {
    const source = program.getSourceFile(name);
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    for (const diagnostic of diagnostics) {
      const at =
        diagnostic.file !== undefined && diagnostic.start !== undefined
          ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line
          : 0;
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      problems.push(`${block.file}:${block.line + at}: TS${diagnostic.code} ${message}`);
    }
  }
  return problems;
}

describe('docs: the TypeScript code blocks of README.md and migration-guide/*.md', function () {
  this.timeout(60_000);
  const blocks = documents().flatMap((file) =>
    codeBlocks(file, readFileSync(path.join(root, file), 'utf8')),
  );

  it('finds the blocks of every document, excerpts marked', () => {
    expect(new Set(blocks.map((block) => block.file))).to.include.members([
      'README.md',
      'migration-guide/pitfalls.md',
      'migration-guide/step-by-step.md',
    ]);
    expect(blocks.filter((block) => !block.excerpt).length).to.be.above(15);
  });

  it('compiles every block that is not an excerpt (strict, module nodenext, ESM)', () => {
    expect(compile(blocks.filter((block) => !block.excerpt))).to.deep.equal([]);
  });

  it('README.md says the blocks are ESM, and what a CommonJS TypeScript consumer needs', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).to.include('"type": "module"');
    expect(readme).to.include('npm init -y');
    expect(readme).to.match(/CommonJS\s+consumers[\s\S]{0,120}need `"module": "nodenext"`/);
  });

  it('reports a block that does not compile, at its line in the document', () => {
    const broken = codeBlocks(
      'broken.md',
      "# x\n\n```ts\nimport { loop } from 'dispatch-bridge/legacy';\nconst n: number = loop;\n```\n",
    );
    expect(compile(broken)).to.deep.equal([
      "broken.md:5: TS2322 Type '(options?: LoopOptions) => Promise<void>' is not assignable to type 'number'.",
    ]);
  });

  it('skips a block marked as an excerpt, and only that one', () => {
    const marked = codeBlocks(
      'marked.md',
      `${EXCERPT_MARKER}\n\n\`\`\`ts\noverride writable() {}\n\`\`\`\n\n\`\`\`ts\nconst a = 1;\n\`\`\`\n`,
    );
    expect(marked.map((block) => [block.line, block.excerpt])).to.deep.equal([
      [4, true],
      [8, false],
    ]);
  });
});
