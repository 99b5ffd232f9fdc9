// `npm run bench`: compares the echo servers of bench/servers.ts on the same work, in one run.
//
// Each server runs in a fresh child process and measures its own CPU time (process.cpuUsage())
// between marks; the load client runs in another child process. Rows are interleaved over several
// rounds and every ratio is taken within one round (row vs its reference, measured minutes apart
// at most), then the median over rounds is reported: the machine is shared and noisy, so absolute
// numbers wander while ratios hold.
//
// Options: --rounds N (3), --connections N (100), --messages N per connection (1000),
// --bulk-mb N (32), --rows name,name (all), --no-events (skip the event-bridge benchmark, which
// takes a few minutes), --no-write (do not update bench/RESULTS.md).
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { renderChart } from './chart.js';
import { runEventBridgeBenchmark } from './event-bridge.js';
import type { BulkResult, PingPongResult } from './load.js';
import { serverRows } from './servers.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '100' },
    messages: { type: 'string', default: '1000' },
    'bulk-mb': { type: 'string', default: '32' },
    rows: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'no-events': { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`Expected \`--${name}\` to be a positive integer, got \`${text}\``);
  }
  return value;
}

const rounds = positive('rounds', values.rounds);
const connections = positive('connections', values.connections);
const messages = positive('messages', values.messages);
const bulkBytes = positive('bulk-mb', values['bulk-mb']) * 1024 * 1024;
const rowNames = values.rows ? values.rows.split(',') : Object.keys(serverRows);
for (const name of rowNames) {
  if (!serverRows[name]) throw new RangeError(`Unknown row ${JSON.stringify(name)}`);
}

const register = new URL('../scripts/ts-register.mjs', import.meta.url).href;
const execArgv = ['--import', register];

interface Usage {
  cpuMicros: number;
  rssBytes: number;
  maxRssBytes: number;
}
interface Sample {
  messagesPerSecond: number;
  cpuMicrosPerMessage: number;
  megabytesPerSecond: number;
  cpuMillisPerMegabyte: number;
  maxRssBytes: number;
}

function request<T>(child: ChildProcess, message: object, replyType: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: { type: string; error?: string } & T): void => {
      if (reply.type !== replyType) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (reply.error !== undefined) reject(new Error(reply.error));
      else resolve(reply);
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMessage);
      reject(new Error(`Benchmark child exited with code ${code} before replying`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

async function ready(child: ChildProcess): Promise<{ port?: number }> {
  const [message] = (await once(child, 'message')) as [{ type: string; port?: number }];
  if (message.type !== 'ready') throw new Error(`Unexpected message ${JSON.stringify(message)}`);
  return message;
}

const client = fork(new URL('./client-process.ts', import.meta.url), [], { execArgv });
await ready(client);

async function measure(name: string): Promise<Sample> {
  const server = fork(new URL('./server-process.ts', import.meta.url), [name], { execArgv });
  try {
    const { port } = await ready(server);
    const ping = { type: 'ping-pong', port, connections, size: 64 };
    // Warm up the JIT on both sides, then measure.
    await request(client, { ...ping, messages: Math.ceil(messages / 10) }, 'result');
    server.send({ type: 'mark' });
    const { result: pp } = await request<{ result: PingPongResult }>(
      client,
      { ...ping, messages },
      'result',
    );
    const ppUsage = await request<Usage>(server, { type: 'measure' }, 'usage');
    if (pp.mismatches > 0) throw new Error(`${name}: ${pp.mismatches} replies were wrong`);

    server.send({ type: 'mark' });
    const { result: bk } = await request<{ result: BulkResult }>(
      client,
      { type: 'bulk', port, bytes: bulkBytes, chunkSize: 64 * 1024 },
      'result',
    );
    const bkUsage = await request<Usage>(server, { type: 'measure' }, 'usage');
    if (bk.mismatches > 0) throw new Error(`${name}: bulk echo bytes were wrong`);
    const megabytes = bk.bytes / (1024 * 1024);
    return {
      messagesPerSecond: pp.messages / (pp.elapsedMs / 1000),
      cpuMicrosPerMessage: ppUsage.cpuMicros / pp.messages,
      megabytesPerSecond: megabytes / (bk.elapsedMs / 1000),
      cpuMillisPerMegabyte: bkUsage.cpuMicros / 1000 / megabytes,
      maxRssBytes: bkUsage.maxRssBytes,
    };
  } finally {
    server.send({ type: 'stop' });
    await once(server, 'exit');
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One progress line on a terminal, rewritten in place; a plain line per step otherwise. */
function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text.padEnd(60)}\r`);
  else if (text) process.stderr.write(`${text}\n`);
}

const samples = new Map<string, Sample[]>(rowNames.map((name) => [name, []]));
for (let round = 1; round <= rounds; round += 1) {
  for (const name of rowNames) {
    progress(`round ${round}/${rounds}: ${name}`);
    samples.get(name)!.push(await measure(name));
  }
}
progress('');
client.send({ type: 'exit' });

function ratio(
  name: string,
  pick: (s: Sample) => number,
  reference = serverRows[name]!.reference,
): number | undefined {
  const ours = samples.get(name)!;
  const theirs = reference ? samples.get(reference) : undefined;
  if (!theirs) return undefined;
  return median(ours.map((s, i) => pick(s) / pick(theirs[i]!)));
}

const fmt = (n: number, digits = 1): string => n.toFixed(digits);
const lines = [
  '| row | msg/s | server CPU µs/msg | CPU ratio | target | bulk MB/s | server CPU ms/MB | bulk CPU ratio | max RSS MB |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
const verdicts: string[] = [];
for (const name of rowNames) {
  const row = serverRows[name]!;
  const s = samples.get(name)!;
  const cpuRatio = ratio(name, (x) => x.cpuMicrosPerMessage);
  const bulkRatio = ratio(name, (x) => x.cpuMillisPerMegabyte);
  lines.push(
    `| ${name} | ${fmt(median(s.map((x) => x.messagesPerSecond)), 0)} | ${fmt(
      median(s.map((x) => x.cpuMicrosPerMessage)),
      2,
    )} | ${cpuRatio === undefined ? 'reference' : `${fmt(cpuRatio, 2)}× ${row.reference}`} | ${
      row.target === undefined ? '' : `≤ ${row.target}×`
    } | ${fmt(median(s.map((x) => x.megabytesPerSecond)))} | ${fmt(
      median(s.map((x) => x.cpuMillisPerMegabyte)),
      2,
    )} | ${bulkRatio === undefined ? '' : `${fmt(bulkRatio, 2)}×`} | ${fmt(
      median(s.map((x) => x.maxRssBytes)) / (1024 * 1024),
      0,
    )} |`,
  );
  if (row.target !== undefined && cpuRatio !== undefined) {
    verdicts.push(
      `- ${name}: server CPU per message ${fmt(cpuRatio, 2)}× ${row.reference} (target ≤ ${row.target}×): ${
        cpuRatio <= row.target ? 'met' : 'MISSED'
      }`,
    );
  }
  for (const { reference, target } of row.alsoAgainst ?? []) {
    const other = samples.has(reference)
      ? ratio(name, (x) => x.cpuMicrosPerMessage, reference)
      : undefined;
    if (other === undefined) continue;
    verdicts.push(
      `- ${name}: server CPU per message ${fmt(other, 2)}× ${reference} (target ≤ ${target}×): ${
        other <= target ? 'met' : 'MISSED'
      }`,
    );
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = [
  `Date: ${new Date().toISOString().slice(0, 10)}; machine: ${os.cpus().length} × ${cpu}, ${fmt(
    os.totalmem() / 1024 ** 3,
    0,
  )} GiB; Node ${process.version}.`,
  `Work: ping-pong of 64-byte lines over ${connections} connections × ${messages} messages, and a ` +
    `${bulkBytes / 1024 / 1024} MiB bulk echo on one connection; ${rounds} rounds, medians; ratios are ` +
    'taken within each round.',
];
let table = [...header, '', ...lines, '', ...verdicts].join('\n');
console.log(table);
if (!values['no-events']) {
  progress('event bridge (a few minutes)');
  const events = await runEventBridgeBenchmark();
  progress('');
  console.log(`\n${events}`);
  table += `\n\n## Event bridge: fromEvents vs events.on vs Repeater\n\n${events}`;
}

if (!values['no-write']) {
  // The chart and the cost table of the migration guide come from the same numbers.
  const chart = renderChart({
    title: 'Server CPU time per message (64-byte ping-pong, lower is better)',
    unit: 'µs',
    reference:
      serverRows['raw net'] && samples.has('raw net')
        ? median(samples.get('raw net')!.map((x) => x.cpuMicrosPerMessage))
        : undefined,
    bars: rowNames.map((name) => ({
      name,
      value: median(samples.get(name)!.map((x) => x.cpuMicrosPerMessage)),
      ...(serverRows[name]!.reference && samples.has(serverRows[name]!.reference)
        ? { ratio: ratio(name, (x) => x.cpuMicrosPerMessage)! }
        : {}),
    })),
  });
  writeFileSync(new URL('./results.svg', import.meta.url), chart);
  const guide = new URL('../migration-guide/cost.md', import.meta.url);
  const page = readFileSync(guide, 'utf8');
  const marked = /(<!-- bench:table -->\n)[\s\S]*?(\n<!-- \/bench:table -->)/;
  writeFileSync(
    guide,
    page.replace(
      marked,
      (_, open: string, close: string) => open + [...header, '', ...lines].join('\n') + close,
    ),
  );

  const results = new URL('./RESULTS.md', import.meta.url);
  writeFileSync(
    results,
    `# Benchmark results\n\n## Echo servers\n\nThe latest \`npm run bench\` on the project's machine. Server CPU time is ` +
      'measured in the server process with `process.cpuUsage()`; the load client runs in its own ' +
      'process.\n\n![Server CPU time per message](results.svg)\n\n' +
      table +
      '\n',
  );
  console.log(`\nWrote ${results.pathname}`);
}
