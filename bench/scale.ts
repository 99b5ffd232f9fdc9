// The scale rows of `npm run bench`: servers at 1,000 and 10,000 concurrent connections, bytes per
// idle connection at 5,000, one busy connection beside 10,000 idle ones, and the mixed server's
// fairness. The load client is bench/native/epoll-client.c (compiled here with the machine's cc):
// a Node client would take a core of its own on a 2-core machine and be what limits. Each row's
// server runs in its own process (bench/server-process.ts) beside raw node:net, alternating, and
// every ratio compares the two measured in the same round. Loopback only; bounded; exits.
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const execArgv = ['--import', new URL('../scripts/ts-register.mjs', import.meta.url).href];

interface Usage {
  cpuMicros: number;
  rssBytes: number;
}

/** One benchmark server in its own process, speaking server-process.ts's IPC protocol. */
class Child {
  private constructor(
    readonly name: string,
    readonly port: number,
    readonly child: ChildProcess,
  ) {}

  static async start(name: string): Promise<Child> {
    const child = fork(new URL('./server-process.ts', import.meta.url), [name], { execArgv });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message: { port: number }) => resolve(message.port));
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    });
    return new Child(name, port, child);
  }

  mark(): void {
    this.child.send({ type: 'mark' });
  }

  measure(): Promise<Usage> {
    return new Promise((resolve) => {
      const onMessage = (message: { type: string } & Usage): void => {
        if (message.type !== 'usage') return;
        this.child.off('message', onMessage);
        resolve(message);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'measure' });
    });
  }

  stop(): void {
    this.child.send({ type: 'stop' });
  }
}

/** Compiles the C load client once (into the temp dir); fails saying what is missing. */
export async function loadClient(): Promise<string> {
  const dir = join(tmpdir(), 'dispatch-bridge-bench');
  const binary = join(dir, 'epoll-client');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const source = fileURLToPath(new URL('./native/epoll-client.c', import.meta.url));
  try {
    await run('cc', ['-O2', '-o', binary, source]);
  } catch (error) {
    throw new Error(
      'Cannot build the load client (bench/native/epoll-client.c): is a C compiler installed? (apt-get install gcc)',
      { cause: error },
    );
  }
  return binary;
}

interface ClientResult {
  messages: number;
  elapsedMs: number;
  mismatches: number;
  min: number;
  median: number;
}

async function client(binary: string, args: string[]): Promise<ClientResult> {
  const { stdout } = await run(binary, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as ClientResult;
}

/** Server CPU µs per message and CPU share (of one core) for a timed ping-pong. */
async function timed(
  binary: string,
  server: Child,
  connections: number,
  ms: number,
): Promise<{ cpuPerMessage: number; cpuShare: number; result: ClientResult }> {
  server.mark();
  const result = await client(binary, [
    'timed',
    String(server.port),
    String(connections),
    String(ms),
    '64',
  ]);
  const usage = await server.measure();
  if (result.mismatches > 0) throw new Error(`${server.name}: ${result.mismatches} bytes differed`);
  return {
    cpuPerMessage: usage.cpuMicros / result.messages,
    cpuShare: usage.cpuMicros / 1000 / result.elapsedMs,
    result,
  };
}

export interface ScaleRow {
  row: string;
  connections: number;
  cpuPerMessage: number;
  ratio: number;
  cpuShare: number;
  min: number;
  median: number;
}

/** The rows at each scale, each beside raw net (row, raw, raw, row). */
export async function scaleRows(
  names: readonly string[],
  scales: readonly number[],
  ms: number,
  progress: (text: string) => void = () => undefined,
): Promise<ScaleRow[]> {
  const binary = await loadClient();
  const rows: ScaleRow[] = [];
  for (const name of names) {
    for (const connections of scales) {
      progress(`scale: ${name} at ${connections} connections`);
      const [server, raw] = await Promise.all([Child.start(name), Child.start('raw net')]);
      try {
        const a = await timed(binary, server, connections, ms);
        const r1 = await timed(binary, raw, connections, ms);
        const r2 = await timed(binary, raw, connections, ms);
        const b = await timed(binary, server, connections, ms);
        const own = (a.cpuPerMessage + b.cpuPerMessage) / 2;
        const reference = (r1.cpuPerMessage + r2.cpuPerMessage) / 2;
        rows.push({
          row: name,
          connections,
          cpuPerMessage: own,
          ratio: own / reference,
          cpuShare: (a.cpuShare + b.cpuShare) / 2,
          min: Math.min(a.result.min, b.result.min),
          median: Math.round((a.result.median + b.result.median) / 2),
        });
      } finally {
        server.stop();
        raw.stop();
      }
    }
  }
  return rows;
}

/** Bytes of server RSS per idle connection, with `connections` idle clients. */
export async function idleBytes(name: string, connections: number): Promise<number> {
  const binary = await loadClient();
  const server = await Child.start(name);
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = (await server.measure()).rssBytes;
    const holder = spawn(binary, ['idle', String(server.port), String(connections)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const after = (await server.measure()).rssBytes;
    holder.stdin.end();
    await new Promise((resolve) => holder.once('exit', resolve));
    return (after - before) / connections;
  } finally {
    server.stop();
  }
}

/** One busy connection's rate beside `idle` idle ones, as a fraction of its rate alone. */
export async function busyBesideIdle(
  name: string,
  idle: number,
  messages: number,
): Promise<number> {
  const binary = await loadClient();
  const server = await Child.start(name);
  try {
    const alone = await client(binary, ['busy', String(server.port), '0', String(messages), '64']);
    const crowded = await client(binary, [
      'busy',
      String(server.port),
      String(idle),
      String(messages),
      '64',
    ]);
    return alone.elapsedMs / crowded.elapsedMs;
  } finally {
    server.stop();
  }
}
