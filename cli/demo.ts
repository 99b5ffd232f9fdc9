/**
 * The demo behind `npm start`: the migration guide's key-value protocol (`examples/steps/_kv.ts`) served
 * in the legacy, modern and mixed styles on loopback; a scripted client checks each against the
 * expected transcript, then a short load (N connections × M requests) measures it; a table
 * compares the three.
 *
 * @module
 */
import net from 'node:net';
import process from 'node:process';
import { STYLES, type Style } from './args.js';
import { startExample, type RunningExample } from './servers.js';
import { MAX_LINE } from '../migration-guide/examples/steps/_kv.js';

/** One row of the demo's table. */
export interface DemoRow {
  style: Style;
  /** The transcript matched and every reply of the load was right. */
  correct: boolean;
  /** What went wrong, when not correct. */
  problems: string[];
  /** Requests answered during the load. */
  messages: number;
  messagesPerSecond: number;
  /** Process CPU (user + system) during the load, per request, in microseconds. */
  cpuMicrosPerMessage: number;
}

/** What {@link runDemo} found. */
export interface DemoResult {
  rows: DemoRow[];
  allCorrect: boolean;
  connections: number;
  messagesPerConnection: number;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** A tiny run: 4 connections × 50 requests per style. */
  quick?: boolean;
  /** Load size (defaults: 32 × 1000, or 4 × 50 with `quick`). */
  connections?: number;
  messagesPerConnection?: number;
  /** Where progress goes (default: stdout). */
  write?: (text: string) => void;
  /** Rewrite the progress line in place (default: whether stdout is a TTY). */
  tty?: boolean;
  /** Starts the server of a style on 127.0.0.1:0 (default: the kv example in that style). */
  start?: (style: Style) => Promise<RunningExample>;
  /**
   * Interrupts the run (Ctrl+C in the command): the current style's server closes, the progress
   * line is cleared, and {@link runDemo} rejects with `signal.reason`.
   */
  signal?: AbortSignal;
}

/** `promise`, or a rejection with `signal.reason` as soon as `signal` aborts (no listener left). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The scripted conversations and the exact bytes expected back; `closes`: the server hangs up. */
export const TRANSCRIPTS: readonly { send: string; expect: string }[] = [
  {
    send: 'GET colour\nSET colour deep blue\r\nGET colour\nDEL colour\nGET colour\nHELLO\nQUIT\n',
    expect: 'NOT_FOUND\nOK\nVALUE deep blue\nDELETED\nNOT_FOUND\nERROR unknown command\nBYE\n',
  },
  {
    send: `SET a 1\n${'x'.repeat(MAX_LINE + 1)}\nGET a\n`,
    expect: 'OK\nERROR line too long\n',
  },
];

/** Sends `send` in one write and collects everything until the server closes the connection. */
function converse(port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    // Half-close after the script: a server that does not hang up by itself still ends the run.
    socket.on('connect', () => socket.end(send));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** One load connection: `messages` requests one at a time (SET then GET), each reply checked. */
function loadClient(
  port: number,
  index: number,
  messages: number,
  onReply: () => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let sent = 0;
    let answered = 0;
    let wrong = 0;
    let pending = '';
    const request = (n: number): string =>
      n % 2 === 0 ? `SET key${index} value ${n}\n` : `GET key${index}\n`;
    const expected = (n: number): string => (n % 2 === 0 ? 'OK' : `VALUE value ${n - 1}`);
    const next = (): void => {
      if (sent === messages) socket.end('QUIT\n');
      else socket.write(request(sent++));
    };
    socket.setEncoding('utf8');
    socket.on('connect', next);
    socket.on('data', (text: string) => {
      pending += text;
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (answered < messages) {
          if (line !== expected(answered)) wrong++;
          answered++;
          onReply();
          next();
        } else if (line !== 'BYE') wrong++;
        newline = pending.indexOf('\n');
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (answered === messages) resolve(wrong);
      else reject(new Error(`Connection ${index} closed after ${answered} of ${messages} replies`));
    });
  });
}

/** A progress line: rewritten in place on a TTY, one plain line per step otherwise. */
class Progress {
  #write: (text: string) => void;
  #tty: boolean;
  #last = '';

  constructor(write: (text: string) => void, tty: boolean) {
    this.#write = write;
    this.#tty = tty;
  }

  /** Show `text`; `step` false marks an update that only a TTY shows. */
  show(text: string, step = true): void {
    if (this.#tty) this.#write(`\r\x1b[2K${text}`);
    else if (step && text !== this.#last) this.#write(`${text}\n`);
    this.#last = text;
  }

  done(): void {
    if (this.#tty) this.#write('\r\x1b[2K');
  }
}

/** Run one style: transcript, then the load, measured. */
async function runStyle(
  style: Style,
  connections: number,
  messagesPerConnection: number,
  progress: Progress,
  start: (style: Style) => Promise<RunningExample>,
  signal: AbortSignal | undefined,
): Promise<DemoRow> {
  const problems: string[] = [];
  const server = await start(style);
  try {
    const { port } = server.address;
    progress.show(`${style}: scripted client on 127.0.0.1:${port}`);
    for (const [index, { send, expect }] of TRANSCRIPTS.entries()) {
      const got = await unlessAborted(converse(port, send), signal);
      if (got !== expect) {
        problems.push(
          `transcript ${index + 1}: expected ${JSON.stringify(expect)}, got ${JSON.stringify(got)}`,
        );
      }
    }
    const total = connections * messagesPerConnection;
    const label = `${style}: load ${connections} connections × ${messagesPerConnection} requests`;
    progress.show(label);
    let replies = 0;
    const every = Math.max(1, Math.floor(total / 20));
    const onReply = (): void => {
      replies++;
      if (replies % every === 0) {
        progress.show(`${label} ${Math.round((replies / total) * 100)}%`, false);
      }
    };
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const load = Promise.all(
      Array.from({ length: connections }, (_, index) =>
        loadClient(port, index, messagesPerConnection, onReply),
      ),
    ).then(
      (counts) => counts.reduce((sum, count) => sum + count, 0),
      (error: unknown) => {
        problems.push(error instanceof Error ? error.message : String(error));
        return 0;
      },
    );
    const wrong = await unlessAborted(load, signal);
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    if (wrong > 0) problems.push(`${wrong} wrong replies during the load`);
    return {
      style,
      correct: problems.length === 0,
      problems,
      messages: replies,
      messagesPerSecond: replies / (elapsedMs / 1000),
      cpuMicrosPerMessage: replies === 0 ? 0 : (cpu.user + cpu.system) / replies,
    };
  } finally {
    await server.close();
  }
}

/**
 * Run the demo: every style in turn (one server at a time, so they do not compete for the CPU).
 *
 * @example
 * ```ts
 * const result = await runDemo({ quick: true });
 * console.log(formatTable(result));
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const quick = options.quick ?? false;
  const connections = options.connections ?? (quick ? 4 : 32);
  const messagesPerConnection = options.messagesPerConnection ?? (quick ? 50 : 1000);
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const progress = new Progress(write, options.tty ?? process.stdout.isTTY === true);
  const start =
    options.start ?? ((style: Style) => startExample('kv', style, { host: '127.0.0.1', port: 0 }));
  const rows: DemoRow[] = [];
  try {
    for (const style of STYLES) {
      options.signal?.throwIfAborted();
      rows.push(
        await runStyle(style, connections, messagesPerConnection, progress, start, options.signal),
      );
    }
  } finally {
    progress.done(); // on a TTY: clear the progress line, also when interrupted
  }
  return {
    rows,
    allCorrect: rows.every((row) => row.correct),
    connections,
    messagesPerConnection,
  };
}

const HEADERS = ['style', 'correct', 'messages/s', 'CPU µs/message*'] as const;

/**
 * The side-by-side table, with its footnote (and what went wrong, if anything did).
 *
 * @example
 * ```ts
 * process.stdout.write(formatTable(await runDemo()));
 * ```
 */
export function formatTable(result: DemoResult): string {
  const cells = result.rows.map((row) => [
    row.style,
    row.correct ? '✔' : '✘',
    Math.round(row.messagesPerSecond).toLocaleString('en-US'),
    row.cpuMicrosPerMessage.toFixed(1),
  ]);
  const widths = HEADERS.map((header, column) =>
    Math.max(header.length, ...cells.map((row) => row[column]!.length)),
  );
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) =>
        column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
      )
      .join(' | ')
      .trimEnd();
  const out = [
    `The key-value protocol, ${result.connections} connections × ${result.messagesPerConnection} requests per style:`,
    '',
    line(HEADERS),
    widths.map((width) => '-'.repeat(width)).join('-|-'),
    ...cells.map(line),
    '',
    '* process.cpuUsage() of this process during the load: the servers and the load client run',
    '  in the same process, so every row includes the same client share. Compare rows with each',
    '  other; `npm run bench` measures servers alone.',
  ];
  for (const row of result.rows) {
    for (const problem of row.problems) out.push(`✘ ${row.style}: ${problem}`);
  }
  return `${out.join('\n')}\n`;
}
