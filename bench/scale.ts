// The scale part of `npm run bench` (the plan and the tables are in bench/scale-report.ts): servers
// at 1,000 and 10,000 concurrent connections, the PROXY-header and diagnostics rows, bytes per
// idle connection, one busy connection beside 10,000 idle ones, and the mixed server's fairness.
//
// The load client is bench/native/epoll-client.c, compiled here with the machine's cc: a Node
// client would take a core of its own on a 2-core machine and be what limits. Each server runs in
// its own process (bench/server-process.ts); the servers of a group run at once (the idle ones
// cost nothing) and are measured in segments in a palindrome (row, reference…, …reference, row),
// so every ratio compares CPU time measured seconds apart. A segment: the client opens its
// connections, the server's CPU clock is marked, the client runs its round trips for a fixed time,
// waits for the replies in flight, reports (with its own CPU time), and only then are the server's
// CPU time read and the connections closed: accepting and closing are not counted.
// Loopback only; bounded in time; every process is stopped in `finally`.
import {
  execFile,
  fork,
  spawn,
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
} from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  BUSY_ROWS,
  DIAGNOSTICS_GROUPS,
  IDLE_ROWS,
  PROXY_GROUPS,
  SCALE_GROUPS,
  segmentPlan,
  type BusyResult,
  type ClientResult,
  type Group,
  type GroupResult,
  type IdleResult,
  type ScaleConfig,
  type ScaleResults,
  type Section,
  type Segment,
} from './scale-report.js';
import { serverRows } from './servers.js';

const run = promisify(execFile);
const execArgv = ['--import', new URL('./register/index.mjs', import.meta.url).href];
/** Open files a process needs beyond its connections (modules, pipes, the listener, ...). */
const FD_HEADROOM = 256;

/** The open-file limits of this process (and so of its children): soft and hard. */
export async function fileLimits(): Promise<{ soft: number; hard: number }> {
  const { stdout } = await run('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn']);
  const [soft, hard] = stdout
    .trim()
    .split('\n')
    .map((text) => (text === 'unlimited' ? Infinity : Number(text)));
  return { soft: soft!, hard: hard! };
}

/**
 * How to start a child that needs `needed` open files: as it is, or through `sh -c 'ulimit -n'`
 * when the soft limit is lower; throws, saying what to do, when the hard limit is too low.
 */
export function fdWrapper(
  needed: number,
  limits: { soft: number; hard: number },
): { execPath?: string; prefix: string[] } {
  if (limits.hard < needed) {
    throw new Error(
      `The scale rows need ${needed} open files per process, but the hard limit (ulimit -Hn) is ` +
        `${limits.hard}: raise it (as root: ulimit -Hn ${needed}, or /etc/security/limits.conf), ` +
        'or run with --quick',
    );
  }
  if (limits.soft >= needed) return { prefix: [] };
  return { execPath: '/bin/sh', prefix: ['-c', `ulimit -n ${needed} && exec "$0" "$@"`] };
}

/** Compiles the C load client (into the temp dir, again when the source is newer). */
export async function loadClient(): Promise<string> {
  const dir = join(tmpdir(), 'dispatch-bridge-bench');
  const binary = join(dir, 'epoll-client');
  const source = fileURLToPath(new URL('./native/epoll-client.c', import.meta.url));
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  mkdirSync(dir, { recursive: true });
  try {
    await run('cc', ['-O2', '-o', binary, source]);
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ENOENT';
    throw new Error(
      missing
        ? 'Cannot build the load client bench/native/epoll-client.c: no C compiler `cc` on the PATH (install one: apt-get install gcc)'
        : `Cannot build the load client bench/native/epoll-client.c with cc: ${String(
            (error as { stderr?: unknown }).stderr ?? error,
          )}`,
      { cause: error },
    );
  }
  return binary;
}

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

  static async start(
    name: string,
    wrapper: { execPath?: string; prefix: string[] },
    nodeFlags: readonly string[] = [],
  ): Promise<Child> {
    const child = fork(new URL('./server-process.ts', import.meta.url), [name], {
      execArgv: [
        ...wrapper.prefix,
        ...(wrapper.execPath ? [process.execPath] : []),
        ...nodeFlags,
        ...execArgv,
      ],
      ...(wrapper.execPath ? { execPath: wrapper.execPath } : {}),
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.once('message', (message: { port: number }) => resolve(message.port));
        child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
      });
      return new Child(name, port, child);
    } catch (error) {
      child.kill();
      throw error;
    }
  }

  #request<T>(message: object, replyType: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (reply: { type: string } & T): void => {
        if (reply.type !== replyType) return;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        resolve(reply);
      };
      const onExit = (code: number | null): void => {
        this.child.off('message', onMessage);
        reject(new Error(`${this.name} exited with ${code} before replying`));
      };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(message);
    });
  }

  async mark(): Promise<void> {
    await this.#request({ type: 'mark' }, 'marked');
  }

  measure(): Promise<Usage> {
    return this.#request<Usage>({ type: 'measure' }, 'usage');
  }

  /** Live memory once the server's garbage is collected (started with --expose-gc). */
  settle(): Promise<Settled> {
    return this.#request<Settled>({ type: 'settle' }, 'settled');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * One run of the C client against one server: its connections are opened once, then each
 * `run()` is a segment (the server's CPU clock marked just before it starts, read just after it
 * reported). Killed after `limitMs` whatever happens.
 */
class Load {
  readonly #client: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string, undefined>;
  readonly #exited: Promise<number | null>;
  readonly #timer: NodeJS.Timeout;
  #stderr = '';

  private constructor(
    binary: string,
    readonly args: string[],
    limitMs: number,
  ) {
    this.#client = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#client.stderr.setEncoding('utf8').on('data', (text: string) => (this.#stderr += text));
    this.#exited = new Promise((resolve) => this.#client.once('close', resolve));
    this.#timer = setTimeout(() => this.#client.kill('SIGKILL'), limitMs);
    this.#lines = createInterface({ input: this.#client.stdout })[
      Symbol.asyncIterator
    ]() as AsyncIterator<string, undefined>;
  }

  /** Starts the client, without waiting for its first report (the idle mode reports later). */
  static start(binary: string, args: string[], limitMs: number): Load {
    return new Load(binary, args, limitMs);
  }

  /** Starts the client; resolves once its connections are open. */
  static async open(binary: string, args: string[], limitMs: number): Promise<Load> {
    const load = new Load(binary, args, limitMs);
    try {
      await load.#next();
      return load;
    } catch (error) {
      await load.close();
      throw error;
    }
  }

  async #next(): Promise<Record<string, number>> {
    const { value, done } = await this.#lines.next();
    if (done === true) {
      const code = await this.#exited;
      throw new Error(
        `The load client (${this.args[0]}) exited with ${code}: ${this.#stderr.trim()}`,
      );
    }
    return JSON.parse(value) as Record<string, number>;
  }

  /** Starts the client's next step (a segment, or the idle mode's connections): its report. */
  step(): Promise<Record<string, number>> {
    this.#client.stdin.write('\n');
    return this.#next();
  }

  /** One segment against `server`. */
  async run(server: Child): Promise<Segment> {
    await server.mark();
    const client = (await this.step()) as unknown as ClientResult;
    const usage = await server.measure();
    if (client.mismatches > 0) {
      throw new Error(`${server.name}: ${client.mismatches} echoed bytes differed`);
    }
    return { client, serverCpuMs: usage.cpuMicros / 1000 };
  }

  /** Ends the client (it closes its connections) and waits for it to exit. */
  async close(): Promise<void> {
    this.#client.stdin.end();
    if (this.#client.exitCode === null && this.#client.signalCode === null) {
      const timer = setTimeout(() => this.#client.kill('SIGKILL'), 5_000);
      await this.#exited;
      clearTimeout(timer);
    }
    clearTimeout(this.#timer);
  }
}

/**
 * The servers of `group`, at each of `scales` in turn (the same processes), warmed up once, each
 * scale measured in a palindrome of segments.
 */
async function measureGroup(
  binary: string,
  group: Group,
  scales: readonly number[],
  config: ScaleConfig,
  wrapper: { execPath?: string; prefix: string[] },
  progress: (text: string) => void,
): Promise<GroupResult[]> {
  const started = await Promise.allSettled(group.servers.map((n) => Child.start(n, wrapper)));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const loads = new Map<Child, Load>();
  const closeLoads = async (): Promise<void> => {
    await Promise.all([...loads.values()].map((load) => load.close()));
    loads.clear();
  };
  try {
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason as Error;
    const results: GroupResult[] = [];
    for (const [index, connections] of scales.entries()) {
      progress(`${group.servers[0]} at ${connections} connections`);
      const { segmentMs, palindromes } = segmentPlan(group, connections, config);
      const limit = 120_000 + 4 * palindromes * (segmentMs + 20_000);
      for (const server of servers) {
        const args = ['timed', String(server.port), String(connections), String(segmentMs)];
        args.push('64');
        if (serverRows[server.name]!.proxyHeader === 'v1') args.push('--proxy-v1');
        loads.set(server, await Load.open(binary, args, limit));
        // The warm-up: a first segment of each server, not counted.
        if (config.warmUp && index === 0) await loads.get(server)!.run(server);
      }
      const segments: Record<string, Segment[]> = {};
      for (let round = 0; round < palindromes; round++) {
        for (const server of [...servers, ...[...servers].reverse()]) {
          (segments[server.name] ??= []).push(await loads.get(server)!.run(server));
        }
      }
      results.push({ group, connections, segments });
      await closeLoads();
    }
    return results;
  } finally {
    await closeLoads();
    await Promise.all(servers.map((server) => server.stop()));
  }
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Settled {
  /** Heap used plus external memory (Buffers), after a full gc. */
  liveBytes: number;
}

/**
 * Bytes of live server memory (JS heap and external) per idle connection, marginal: what
 * `connections` more idle clients add to a server that already holds as many, once its garbage
 * is collected. The server first serves a burst of `connections` ping-pong clients for 2 s (as
 * any server that has seen traffic has; it grows V8's young generation to its working size).
 * RSS growth measured right after an accept burst was mostly that one-time young generation
 * growth (8 → 16 MB for raw net, 8 → 32 MB for a server that allocates more while accepting),
 * which is not per connection, and RSS deltas after a gc are page-granular (even negative).
 */
async function idleBytes(
  binary: string,
  name: string,
  connections: number,
  wrapper: { execPath?: string; prefix: string[] },
): Promise<number> {
  const server = await Child.start(name, wrapper, ['--expose-gc']);
  const limitMs = 180_000;
  const clients: Load[] = [];
  try {
    const args = ['timed', String(server.port), String(connections), '2000', '64'];
    const burst = await Load.open(binary, args, limitMs);
    try {
      await burst.step();
    } finally {
      await burst.close();
    }
    const hold = async (): Promise<Settled> => {
      const holder = Load.start(
        binary,
        ['idle', String(server.port), String(connections)],
        limitMs,
      );
      clients.push(holder);
      await holder.step();
      // Every connection is open: let the server accept them all, then let its heap settle.
      await pause(1_000);
      return server.settle();
    };
    const first = await hold();
    const second = await hold();
    return (second.liveBytes - first.liveBytes) / connections;
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await server.stop();
  }
}

/** The busy connection's round trips per second (server and client CPU over the run). */
async function busyRun(
  binary: string,
  server: Child,
  idle: number,
  messages: number,
): Promise<{ rate: number; serverMs: number; clientMs: number; elapsedMs: number }> {
  const args = ['busy', String(server.port), String(idle), String(messages), '64'];
  const load = await Load.open(binary, args, 120_000);
  try {
    const { client, serverCpuMs } = await load.run(server);
    if (client.messages !== messages) {
      throw new Error(`${server.name}: the busy connection made ${client.messages} round trips`);
    }
    return {
      rate: client.messages / (client.elapsedMs / 1000),
      serverMs: serverCpuMs,
      clientMs: client.cpuMs,
      elapsedMs: client.elapsedMs,
    };
  } finally {
    await load.close();
  }
}

/** Which parts of the scale bench to run. */
export type ScalePart = 'scale' | 'proxy' | 'diagnostics' | 'idle' | 'busy';
export const SCALE_PARTS: ScalePart[] = ['scale', 'proxy', 'diagnostics', 'idle', 'busy'];

/** Runs the scale part of the bench. */
export async function runScale(
  config: ScaleConfig,
  parts: readonly ScalePart[] = SCALE_PARTS,
  progress: (text: string) => void = () => undefined,
): Promise<ScaleResults> {
  const binary = await loadClient();
  const largest = Math.max(
    ...(parts.includes('scale') ? config.scales : []),
    parts.includes('idle') ? 2 * config.idleConnections : 0,
    parts.includes('busy') ? config.busyIdle + 1 : 0,
    config.featureConnections,
  );
  const wrapper = fdWrapper(largest + FD_HEADROOM, await fileLimits());
  const results: ScaleResults = { config, groups: [], failures: [] };
  /** Runs one measurement; a failure is recorded (and printed as FAILED) and the run goes on. */
  const attempt = async <T>(
    what: string,
    section: Section,
    work: () => Promise<T>,
  ): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      results.failures.push({ what, section, error: message.split('\n')[0]! });
      progress(`${what}: FAILED: ${message}`);
      return undefined;
    }
  };
  const wanted = (row: string): boolean => config.rows === undefined || config.rows.includes(row);
  const plan: { group: Group; scales: readonly number[] }[] = [];
  if (parts.includes('scale')) {
    for (const group of SCALE_GROUPS) {
      if (wanted(group.servers[0]!)) plan.push({ group, scales: config.scales });
    }
  }
  if (parts.includes('proxy')) {
    for (const group of PROXY_GROUPS) {
      if (wanted(group.servers[0]!)) plan.push({ group, scales: [config.featureConnections] });
    }
  }
  if (parts.includes('diagnostics')) {
    for (const group of DIAGNOSTICS_GROUPS) {
      if (!wanted(group.servers[0]!)) continue;
      plan.push({ group, scales: [config.featureConnections] });
    }
  }
  for (const [index, { group, scales }] of plan.entries()) {
    const step = (text: string): void => progress(`scale ${index + 1}/${plan.length}: ${text}`);
    const measured = await attempt(
      `${group.servers[0]} at ${scales.join(' and ')} connections`,
      group.section,
      () => measureGroup(binary, group, scales, config, wrapper, step),
    );
    results.groups.push(...(measured ?? []));
  }

  if (parts.includes('idle')) {
    const idle: IdleResult = { connections: config.idleConnections, bytesPerConnection: {} };
    const bytes = (row: string): Promise<number | undefined> => {
      progress(`idle memory: ${row}`);
      return attempt(`${row}: idle memory`, 'idle', () =>
        idleBytes(binary, row, config.idleConnections, wrapper),
      );
    };
    const rawBefore = await bytes('raw net');
    for (const { row } of IDLE_ROWS) {
      if (!wanted(row)) continue;
      const value = await bytes(row);
      if (value !== undefined) idle.bytesPerConnection[row] = value;
    }
    const rawAfter = await bytes('raw net');
    const raws = [rawBefore, rawAfter].filter((v): v is number => v !== undefined);
    if (raws.length > 0) {
      idle.bytesPerConnection['raw net'] = raws.reduce((a, b) => a + b, 0) / raws.length;
      results.idle = idle;
    }
  }

  if (parts.includes('busy')) {
    const busy: BusyResult = { idle: config.busyIdle, rows: [] };
    for (const { row } of BUSY_ROWS) {
      if (!wanted(row) && row !== 'raw net') continue;
      progress(`one busy beside ${config.busyIdle} idle: ${row}`);
      await attempt(`${row}: one busy beside ${config.busyIdle} idle`, 'busy', async () => {
        const server = await Child.start(row, wrapper);
        try {
          await busyRun(binary, server, 0, Math.ceil(config.busyMessages / 10)); // warm-up
          const a = await busyRun(binary, server, 0, config.busyMessages);
          const crowded = await busyRun(binary, server, config.busyIdle, config.busyMessages);
          const b = await busyRun(binary, server, 0, config.busyMessages);
          busy.rows.push({
            row,
            alone: (a.rate + b.rate) / 2,
            crowded: crowded.rate,
            serverCores: crowded.serverMs / crowded.elapsedMs,
            clientCores: crowded.clientMs / crowded.elapsedMs,
          });
        } finally {
          await server.stop();
        }
      });
    }
    if (busy.rows.length > 0) results.busy = busy;
  }
  return results;
}
