// bench/RESULTS.md and the migration guide's cost page are made of marked blocks
// (`<!-- bench:NAME -->` … `<!-- /bench:NAME -->`): a run replaces the blocks it measured and
// leaves the others as they were, so a run of one part (`--no-main`, `--scale-parts idle`) updates
// that part only.

/** Replaces each marked block named in `blocks` whose markers are in `text`. */
export function replaceBlocks(text: string, blocks: Record<string, string>): string {
  let result = text;
  for (const [name, content] of Object.entries(blocks)) {
    const marked = new RegExp(`(<!-- bench:${name} -->\\n)[\\s\\S]*?(\\n<!-- /bench:${name} -->)`);
    result = result.replace(marked, (_, open: string, close: string) => open + content + close);
  }
  return result;
}

/** The names of the marked blocks in `text`, in order. */
export function blockNames(text: string): string[] {
  return [...text.matchAll(/<!-- bench:([\w-]+) -->/g)].map((m) => m[1]!);
}

const block = (name: string, placeholder = '(not measured yet: run `npm run bench`)'): string =>
  `<!-- bench:${name} -->\n${placeholder}\n<!-- /bench:${name} -->`;

/** A fresh bench/RESULTS.md, every block empty (used when the file has no markers yet). */
export const RESULTS_TEMPLATE = `# Benchmark results

The latest \`npm run bench\` on the project's machine: how to run it, what each row measures and why
the load client is not the limit are in [README.md](README.md). Server CPU time is measured in the
server process with \`process.cpuUsage()\`; every ratio compares servers measured in the same run,
interleaved. Each target is printed as met or MISSED.

${block('header')}

## Echo servers (100 connections, Node load client)

![Server CPU time per message](results.svg)

${block('main')}

## At scale: 1,000 and 10,000 concurrent connections (C epoll load client)

Issue #12: 64-byte ping-pong, server CPU per message ÷ raw node:net's in the same group; each
row's server CPU, raw net's and the load client's are shown (a server near one core is saturated,
so the client was not what limited it).

${block('scale-work')}

${block('scale')}

## PROXY protocol header (issue #15)

A PROXY v1 header sent once per connection by the client, parsed by the server
(\`proxyProtocol: 'v1'\`), against the same server without: within noise (≤ 1.05×).

${block('proxy')}

## Diagnostics channels (issue #16)

A subscriber on every \`dispatch-bridge:*\` channel against the same server with none (the cost
when used), and the unsubscribed server against raw node:net at its usual target (free when
unused).

${block('diagnostics')}

## Bytes per idle connection

${block('idle')}

## One busy connection beside idle ones

${block('busy')}

## Mixed server fairness

${block('fairness')}

## Event bridge: fromEvents vs events.on vs Repeater

${block('events')}
`;
