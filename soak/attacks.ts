// The hostile-peer attacks of `npm run soak` (issue #11): a pipelining client that never reads, a
// trickle of 1-byte TCP segments, and idle hoarders against `concurrency`. The server runs in a
// child process (soak/attack-server.ts), so that its RSS and fds are measured alone; the
// clients run here. Each attack returns its figures and whether every bound held; soak/run.ts
// records them. Loopback only, bounded in bytes, count and time.
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { AttackCommand, Measurement } from './attack-server.js';
import type { Style } from './servers.js';

const HOST = '127.0.0.1';

type Request = AttackCommand extends infer C
  ? C extends { id: number }
    ? Omit<C, 'id'>
    : never
  : never;

/** The attack server child process. */
export class AttackServer {
  readonly #child: ChildProcess;
  #next = 0;
  #waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (message: { id: number; result?: unknown; error?: string }) => {
      const waiting = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (message.error !== undefined) waiting?.reject(new Error(message.error));
      else waiting?.resolve(message.result);
    });
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.#exited.then(() => {
      for (const waiting of this.#waiting.values()) waiting.reject(new Error('Server exited'));
      this.#waiting.clear();
    });
  }

  /** Forks soak/attack-server.ts with --expose-gc. */
  static spawn(): AttackServer {
    const entry = fileURLToPath(new URL('./attack-server.ts', import.meta.url));
    const child = fork(entry, [], {
      execArgv: ['--expose-gc', '--import', './scripts/ts-register.mjs'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new AttackServer(child);
  }

  #request<T>(command: Request, ms = 30_000): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`Server did not answer ${command.cmd} within ${ms} ms`));
      }, ms);
      this.#waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#child.send({ ...command, id });
    });
  }

  /** Starts a server; resolves with its port. */
  start(command: Extract<Request, { cmd: 'start' }>): Promise<number> {
    return this.#request<number>(command);
  }

  /** RSS, heap and fds of the server process, after garbage collection. */
  measure(): Promise<Measurement> {
    return this.#request<Measurement>({ cmd: 'measure' });
  }

  /** Stops the running server. */
  stop(): Promise<void> {
    return this.#request<void>({ cmd: 'stop' });
  }

  /** Ends the child process and waits for it. */
  async exit(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.disconnect();
      const killed = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
      await this.#exited;
      clearTimeout(killed);
    }
  }
}

/** One attack's outcome: the bounds checked, the figures seen. */
export interface AttackResult {
  ok: boolean;
  result: string;
}

const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MiB`;

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

/** Polls the server (every 100 ms, at most `ms`) until `probe` holds; returns the last figures. */
async function settle(
  server: AttackServer,
  probe: (m: Measurement) => boolean,
  ms: number,
): Promise<{ held: boolean; last: Measurement }> {
  const end = performance.now() + ms;
  for (;;) {
    const last = await server.measure();
    if (probe(last)) return { held: true, last };
    if (performance.now() > end) return { held: false, last };
    await sleep(100);
  }
}

/** The fds check shared by the attacks: the server's fds back to `baseline` within 7 s. */
async function fdsBack(
  server: AttackServer,
  baseline: Measurement,
): Promise<{ ok: boolean; text: string }> {
  const t0 = performance.now();
  const { held, last } = await settle(
    server,
    (m) => m.fds <= baseline.fds && m.tracked === 0,
    7_000,
  );
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  return {
    ok: held,
    text: `server fds ${baseline.fds}->${last.fds} (${seconds} s after the clients left)`,
  };
}

/**
 * Pipelining clients that never read: each writes 1 KiB request lines as fast as the transport
 * takes them, up to `offered / clients` bytes or until it stays congested for 500 ms (pushed
 * back). The server's RSS growth while they hold on must stay under `bound`.
 */
export async function neverReads(
  server: AttackServer,
  style: Style,
  options: { offered: number; clients: number; bound: number },
): Promise<AttackResult> {
  const port = await server.start({ cmd: 'start', kind: style });
  const sockets: net.Socket[] = [];
  try {
    const baseline = await server.measure();
    const line = `${'x'.repeat(1023)}\n`;
    const chunk = Buffer.from(line.repeat(64));
    const share = Math.floor(options.offered / options.clients);
    const t0 = performance.now();
    const sent = await Promise.all(
      Array.from({ length: options.clients }, async () => {
        const socket = await connect(port);
        sockets.push(socket); // never read: no 'data' listener, the socket stays paused
        let written = 0;
        while (written < share) {
          written += chunk.length;
          if (socket.write(chunk)) continue;
          const drained = await Promise.race([
            new Promise<boolean>((resolve) => socket.once('drain', () => resolve(true))),
            sleep(500, false),
          ]);
          if (!drained) break;
        }
        return written - socket.writableLength;
      }),
    );
    const flooding = ((performance.now() - t0) / 1000).toFixed(1);
    const during = await server.measure();
    const growth = during.rss - baseline.rss;
    const taken = sent.reduce((sum, n) => sum + n, 0);
    const pushedBack = sent.every((n) => n < share);
    for (const socket of sockets) socket.destroy();
    const fds = await fdsBack(server, baseline);
    return {
      ok: growth < options.bound && pushedBack && fds.ok,
      result:
        `${mib(options.offered)} offered by ${options.clients} clients, ${mib(taken)} taken before ` +
        `${pushedBack ? 'pushback' : 'NO pushback'} (${flooding} s); server RSS ${mib(baseline.rss)}->${mib(during.rss)} ` +
        `(+${mib(growth)}, bound ${mib(options.bound)}), heap+external +${mib(during.heapUsed + during.external - baseline.heapUsed - baseline.external)}; ${fds.text}`,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.stop();
  }
}

/**
 * A trickle of 1-byte TCP segments: `clients` connections (TCP_NODELAY) each write `perClient`
 * bytes of one unfinished line, one byte per write and one write per event-loop turn, so that
 * each byte leaves as its own segment. The server's RSS growth while it holds them must stay
 * under `bound`; then each line is ended and must come back whole.
 */
export async function trickle(
  server: AttackServer,
  style: Style,
  options: { clients: number; perClient: number; bound: number },
): Promise<AttackResult> {
  const port = await server.start({ cmd: 'start', kind: style });
  const sockets: net.Socket[] = [];
  try {
    const baseline = await server.measure();
    for (let i = 0; i < options.clients; i++) {
      const socket = await connect(port);
      socket.setNoDelay(true);
      sockets.push(socket);
    }
    const byte = Buffer.from('x');
    for (let n = 0; n < options.perClient; n++) {
      for (const socket of sockets) socket.write(byte);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Let the server take in the last segments, then measure it holding every line.
    await sleep(200);
    const during = await server.measure();
    const growth = during.rss - baseline.rss;
    const replies = await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<number>((resolve) => {
            let length = 0;
            const timer = setTimeout(() => resolve(length), 10_000);
            socket.on('data', (data: Buffer) => {
              length += data.length;
              if (data.includes(0x0a)) {
                clearTimeout(timer);
                resolve(length);
              }
            });
            socket.write('\n');
          }),
      ),
    );
    const whole = replies.filter((n) => n === options.perClient + 1).length;
    for (const socket of sockets) socket.destroy();
    const fds = await fdsBack(server, baseline);
    const total = options.clients * options.perClient;
    return {
      ok: growth < options.bound && whole === options.clients && fds.ok,
      result:
        `${options.clients} x ${options.perClient} one-byte segments (${mib(total)}); server RSS ` +
        `${mib(baseline.rss)}->${mib(during.rss)} (+${mib(growth)}, bound ${mib(options.bound)}), ` +
        `heap+external +${mib(during.heapUsed + during.external - baseline.heapUsed - baseline.external)}; ` +
        `${whole}/${options.clients} lines echoed whole; ${fds.text}`,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.stop();
  }
}

/** Sends "hello\n"; resolves with 'served' (the echo came), 'refused' (closed without it) or 'waiting'. */
function tryOnce(port: number, ms: number): Promise<{ outcome: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let text = '';
    const done = (outcome: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => done('waiting'), ms);
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      text += data;
      if (text === 'hello\n') done('served');
    });
    socket.on('close', () => done('refused'));
    socket.on('connect', () => socket.write('hello\n'));
  });
}

/**
 * Idle hoarders against `concurrency`: `concurrency` clients connect and never send. While they
 * stay, a new client gets an answer (refused, or served) within `queueTimeout` + 1 s; once they
 * are gone, a new client is served within 2 s.
 */
export async function hoarders(
  server: AttackServer,
  kind: 'bounded-modern' | 'bounded-mixed',
  options: { concurrency: number; queueTimeout: number },
): Promise<AttackResult> {
  const port = await server.start({ cmd: 'start', kind, ...options });
  const sockets: net.Socket[] = [];
  try {
    const baseline = await server.measure();
    for (let i = 0; i < options.concurrency; i++) sockets.push(await connect(port));
    await sleep(200);
    const bound = options.queueTimeout + 1_000;
    const during = await tryOnce(port, bound + 2_000);
    const answered = during.outcome !== 'waiting' && during.ms <= bound;
    for (const socket of sockets) socket.destroy();
    const after = await tryOnce(port, 4_000);
    const served = after.outcome === 'served' && after.ms <= 2_000;
    const fds = await fdsBack(server, baseline);
    return {
      ok: answered && served && fds.ok,
      result:
        `concurrency ${options.concurrency}, ${options.concurrency} idle hoarders: a new client ` +
        `${during.outcome} after ${during.ms.toFixed(0)} ms (bound ${bound} ms); hoarders gone: ` +
        `${after.outcome} after ${after.ms.toFixed(0)} ms (bound 2000 ms); ${fds.text}`,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.stop();
  }
}
