// `npm run bench`: compares the echo servers of bench/servers.ts on the same work, in one run.
//
// Each server runs in a fresh child process and measures its own CPU time (process.cpuUsage())
// between marks; the load client runs in another child process. A row is measured together with
// its references, started beside it: the work is split into segments run in palindromes (row,
// ref, ref, row, row, ref, ref, row), so every ratio compares CPU time measured seconds apart, with
// any drift of the machine's speed weighing on both sides. The median over rounds is reported: the machine is
// shared and noisy, so absolute numbers wander while ratios hold.
//
// Then the scale part (bench/scale.ts, with the C load client): 1,000 and 10,000 connections, the
// PROXY-header and diagnostics rows, idle memory, one busy beside idle ones, mixed fairness.
//
// Options: --rounds N (3), --connections N (100), --messages N per connection (1000),
// --bulk-mb N (32), --rows name,name (all), --no-main (skip that table), --no-events (skip the
// event-bridge benchmark, which takes a few minutes), --scale-parts scale,proxy,diagnostics,idle,
// busy (all; `none` skips the scale part), --scale-rows name,name and --scales 1000,10000 (some
// rows of the scale part at some scales; a partial run writes nothing), --quick (everything at a small scale, to check that it
// all works: 1 round, 4 connections, 50/200 at scale; implies --no-events and --no-write),
// --no-write (do not update bench/RESULTS.md, results.svg and migration-guide/cost.md).
// See bench/README.md.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { renderChart } from './chart.js';
import { runEventBridgeBenchmark } from './event-bridge.js';
import type { BulkResult, PingPongResult } from './load.js';
import { RESULTS_TEMPLATE, blockNames, replaceBlocks } from './results-file.js';
import { SCALE_PARTS, runScale, type ScalePart } from './scale.js';
import { FULL, QUICK, SECTIONS, renderScale } from './scale-report.js';
import { serverRows } from './servers.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    connections: { type: 'string' },
    messages: { type: 'string' },
    'bulk-mb': { type: 'string' },
    rows: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-main': { type: 'boolean', default: false },
    'scale-parts': { type: 'string' },
    'scale-rows': { type: 'string' },
    scales: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'no-events': { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const benchStarted = performance.now();

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`Expected \`--${name}\` to be a positive integer, got \`${text}\``);
  }
  return value;
}

const rounds = positive('rounds', values.rounds ?? (quick ? '1' : '3'));
const connections = positive('connections', values.connections ?? (quick ? '4' : '100'));
const messages = positive('messages', values.messages ?? (quick ? '20' : '1000'));
const MiB = 1024 * 1024;
const bulkBytes = positive('bulk-mb', values['bulk-mb'] ?? (quick ? '1' : '32')) * MiB;
const rowNames = values['no-main']
  ? []
  : values.rows
    ? values.rows.split(',')
    : Object.keys(serverRows).filter((name) => serverRows[name]!.scaleOnly !== true);
for (const name of rowNames) {
  if (!serverRows[name]) throw new RangeError(`Unknown row ${JSON.stringify(name)}`);
}
const scaleParts: ScalePart[] =
  values['scale-parts'] === 'none'
    ? []
    : values['scale-parts']
      ? (values['scale-parts'].split(',') as ScalePart[])
      : SCALE_PARTS;
for (const part of scaleParts) {
  if (!SCALE_PARTS.includes(part)) {
    throw new RangeError(
      `Unknown scale part ${JSON.stringify(part)}: expected some of ${SCALE_PARTS.join(',')} or none`,
    );
  }
}
const scaleRows = values['scale-rows']?.split(',');
const scales = values.scales?.split(',').map((text) => positive('scales', text));
// A partial scale run prints its tables but does not overwrite the committed ones.
const write = !values['no-write'] && !quick && scaleRows === undefined && scales === undefined;
const events = !values['no-events'] && !quick;

const register = new URL('./register/index.mjs', import.meta.url).href;
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

interface Segment {
  cpuMicros: number;
  messages: number;
  elapsedMs: number;
}
interface BulkSegment {
  cpuMicros: number;
  bytes: number;
  elapsedMs: number;
}

/** A benchmark server in its own child process. */
class ServerChild {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #port: number;
  private constructor(name: string, child: ChildProcess, port: number) {
    this.name = name;
    this.#child = child;
    this.#port = port;
  }

  static async start(name: string): Promise<ServerChild> {
    const child = fork(new URL('./server-process.ts', import.meta.url), [name], { execArgv });
    try {
      const { port } = await ready(child);
      return new ServerChild(name, child, port!);
    } catch (error) {
      child.kill();
      throw error;
    }
  }

  async pingPong(messagesPerConnection: number): Promise<Segment> {
    this.#child.send({ type: 'mark' });
    const { result } = await request<{ result: PingPongResult }>(
      client,
      {
        type: 'ping-pong',
        port: this.#port,
        connections,
        size: 64,
        messages: messagesPerConnection,
      },
      'result',
    );
    const usage = await request<Usage>(this.#child, { type: 'measure' }, 'usage');
    if (result.mismatches > 0)
      throw new Error(`${this.name}: ${result.mismatches} replies were wrong`);
    return { cpuMicros: usage.cpuMicros, messages: result.messages, elapsedMs: result.elapsedMs };
  }

  async bulk(bytes: number): Promise<BulkSegment> {
    this.#child.send({ type: 'mark' });
    const { result } = await request<{ result: BulkResult }>(
      client,
      { type: 'bulk', port: this.#port, bytes, chunkSize: 64 * 1024 },
      'result',
    );
    const usage = await request<Usage>(this.#child, { type: 'measure' }, 'usage');
    if (result.mismatches > 0) throw new Error(`${this.name}: bulk echo bytes were wrong`);
    return { cpuMicros: usage.cpuMicros, bytes: result.bytes, elapsedMs: result.elapsedMs };
  }

  async maxRss(): Promise<number> {
    return (await request<Usage>(this.#child, { type: 'measure' }, 'usage')).maxRssBytes;
  }

  async stop(): Promise<void> {
    const exited = once(this.#child, 'exit');
    this.#child.send({ type: 'stop' });
    await exited;
  }
}

/** A row measured in one round, with its ratios against the servers measured beside it. */
interface RoundResult {
  sample: Sample;
  /** Server CPU per message of the row ÷ that of each reference, from interleaved segments. */
  cpuRatios: Map<string, number>;
  bulkRatios: Map<string, number>;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

/** The ping-pong work of a row runs as this many palindromes (row, ref, ref, row) of segments. */
const PING_PALINDROMES = 2;

/**
 * Measures one row against its references. Every server of the comparison runs in its own child
 * process at the same time (idle ones cost nothing), and the work is split into segments run in
 * palindromes (row, ref…, ref…, row; twice for ping-pong, once with halves for bulk): a drift of
 * the machine's speed during the measurement weighs on both sides alike, so the ratios hold on a
 * noisy machine where absolute numbers wander.
 */
async function measure(name: string): Promise<RoundResult> {
  const row = serverRows[name]!;
  const references = [
    ...new Set(
      [row.reference, ...(row.alsoAgainst ?? []).map((a) => a.reference)].filter(
        (r): r is string => r !== undefined,
      ),
    ),
  ];
  const servers = await Promise.all([name, ...references].map((n) => ServerChild.start(n)));
  try {
    const order = [...servers, ...[...servers].reverse()];
    // Warm up the JIT on both sides, then measure.
    for (const server of servers) await server.pingPong(Math.ceil(messages / 10));
    const ping = new Map<ServerChild, Segment[]>(servers.map((s) => [s, []]));
    const segment = Math.ceil(messages / (2 * PING_PALINDROMES));
    for (let i = 0; i < PING_PALINDROMES; i++) {
      for (const server of order) ping.get(server)!.push(await server.pingPong(segment));
    }
    const bulkRuns = new Map<ServerChild, BulkSegment[]>(servers.map((s) => [s, []]));
    for (const server of order) bulkRuns.get(server)!.push(await server.bulk(bulkBytes / 2));

    const cpuPerMessage = (server: ServerChild): number => {
      const segments = ping.get(server)!;
      return sum(segments.map((x) => x.cpuMicros)) / sum(segments.map((x) => x.messages));
    };
    const cpuPerMegabyte = (server: ServerChild): number => {
      const segments = bulkRuns.get(server)!;
      return (
        sum(segments.map((x) => x.cpuMicros)) / 1000 / (sum(segments.map((x) => x.bytes)) / MiB)
      );
    };
    const self = servers[0]!;
    const pp = ping.get(self)!;
    const bk = bulkRuns.get(self)!;
    const sample: Sample = {
      messagesPerSecond: sum(pp.map((x) => x.messages)) / (sum(pp.map((x) => x.elapsedMs)) / 1000),
      cpuMicrosPerMessage: cpuPerMessage(self),
      megabytesPerSecond:
        sum(bk.map((x) => x.bytes)) / MiB / (sum(bk.map((x) => x.elapsedMs)) / 1000),
      cpuMillisPerMegabyte: cpuPerMegabyte(self),
      maxRssBytes: await self.maxRss(),
    };
    const cpuRatios = new Map<string, number>();
    const bulkRatios = new Map<string, number>();
    for (const reference of servers.slice(1)) {
      cpuRatios.set(reference.name, sample.cpuMicrosPerMessage / cpuPerMessage(reference));
      bulkRatios.set(reference.name, sample.cpuMillisPerMegabyte / cpuPerMegabyte(reference));
    }
    return { sample, cpuRatios, bulkRatios };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
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

const results = new Map<string, RoundResult[]>(rowNames.map((name) => [name, []]));
for (let round = 1; round <= rounds; round += 1) {
  for (const name of rowNames) {
    progress(`round ${round}/${rounds}: ${name}`);
    results.get(name)!.push(await measure(name));
  }
}
progress('');
client.send({ type: 'exit' });
const samples = new Map([...results].map(([name, r]) => [name, r.map((x) => x.sample)]));

/** The median over rounds of a ratio taken within each round (undefined without a reference). */
function ratio(
  name: string,
  kind: 'cpu' | 'bulk',
  reference = serverRows[name]!.reference,
): number | undefined {
  if (reference === undefined) return undefined;
  const values = results
    .get(name)!
    .map((r) => (kind === 'cpu' ? r.cpuRatios : r.bulkRatios).get(reference))
    .filter((v): v is number => v !== undefined);
  return values.length > 0 ? median(values) : undefined;
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
  const cpuRatio = ratio(name, 'cpu');
  const bulkRatio = ratio(name, 'bulk');
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
    const other = ratio(name, 'cpu', reference);
    if (other === undefined) continue;
    verdicts.push(
      `- ${name}: server CPU per message ${fmt(other, 2)}× ${reference} (target ≤ ${target}×): ${
        other <= target ? 'met' : 'MISSED'
      }`,
    );
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const machine = `Date: ${new Date().toISOString().slice(0, 10)}; machine: ${os.cpus().length} × ${cpu}, ${fmt(
  os.totalmem() / 1024 ** 3,
  0,
)} GiB; Node ${process.version}.`;
const header = [
  machine,
  `Work: ping-pong of 64-byte lines over ${connections} connections × ${messages} messages, and a ` +
    `${bulkBytes / MiB} MiB bulk echo on one connection; ${rounds} rounds, medians; each ratio ` +
    'compares a row with its reference run beside it, interleaved (row, ref, ref, row, twice).',
];
/** The marked blocks of RESULTS.md (and of the cost page) that this run measured. */
const blocks: Record<string, string> = {};
if (rowNames.length > 0) {
  const table = [...header, '', ...lines, '', ...verdicts].join('\n');
  console.log(table);
  blocks.main = table;
}
if (events) {
  progress('event bridge (a few minutes)');
  const text = await runEventBridgeBenchmark();
  progress('');
  console.log(`\n## Event bridge: fromEvents vs events.on vs Repeater\n\n${text}`);
  blocks.events = text;
}

if (scaleParts.length > 0) {
  const config = {
    ...(quick ? QUICK : FULL),
    ...(scaleRows ? { rows: scaleRows } : {}),
    ...(scales ? { scales } : {}),
  };
  const scaleStarted = performance.now();
  const scale = await runScale(config, scaleParts, progress);
  progress('');
  const sections = renderScale(scale);
  const work =
    `Scale work: ${config.scales.join(' and ')} connections (PROXY header and diagnostics rows: ` +
    `${config.featureConnections}), segments of ${config.segmentMs} ms in a palindrome (row, ` +
    `references, references, row)${config.warmUp ? ' after one warm-up segment each' : ''}, ` +
    `for the ≤ 1.05× rows the median of the palindromes' ratios, of ${config.fine.palindromes} ` +
    `palindromes of ${config.fine.segmentMs} ms segments up to ${config.fine.upTo} connections ` +
    'and of three above; ' +
    `${config.idleConnections} more idle connections beside as many for memory; one busy connection × ` +
    `${config.busyMessages} round trips beside ${config.busyIdle} idle; ${fmt(
      (performance.now() - scaleStarted) / 60_000,
    )} minutes.`;
  console.log(`\n${work}`);
  for (const name of SECTIONS) {
    const section = sections[name];
    if (!section) continue;
    const text = [section.table, '', ...section.verdicts].join('\n');
    console.log(`\n### ${name}\n\n${text}`);
    blocks[name] = text;
  }
  blocks['scale-work'] = work;
}
const totalMinutes = (performance.now() - benchStarted) / 60_000;
console.log(`\nThe bench took ${fmt(totalMinutes)} minutes.`);
blocks.header = `${machine} The last run took ${fmt(totalMinutes)} minutes (the parts it ran: ${[
  ...(rowNames.length > 0 ? ['main'] : []),
  ...(events ? ['events'] : []),
  ...scaleParts,
].join(', ')}).`;

if (write) {
  if (rowNames.length > 0) {
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
        ...(serverRows[name]!.reference !== undefined ? { ratio: ratio(name, 'cpu')! } : {}),
      })),
    });
    writeFileSync(new URL('./results.svg', import.meta.url), chart);
  }
  const guide = new URL('../migration-guide/cost.md', import.meta.url);
  writeFileSync(
    guide,
    replaceBlocks(readFileSync(guide, 'utf8'), {
      ...blocks,
      ...(rowNames.length > 0 ? { table: [...header, '', ...lines].join('\n') } : {}),
    }),
  );
  const resultsFile = new URL('./RESULTS.md', import.meta.url);
  let page = RESULTS_TEMPLATE;
  try {
    const existing = readFileSync(resultsFile, 'utf8');
    if (blockNames(existing).includes('main')) page = existing;
  } catch {
    // no RESULTS.md yet: the template
  }
  writeFileSync(resultsFile, replaceBlocks(page, blocks));
  console.log(`\nWrote ${resultsFile.pathname}, ${guide.pathname}`);
}
