// A real HAProxy (Debian's `haproxy` package) for the scaling tests: it renders
// examples/haproxy.cfg with loopback addresses (so that the README's config is the tested one),
// writes it to a temporary directory and runs `haproxy -db` (foreground) until `stop()`.
//
// haproxy missing is a failure, never a skip: `findHaproxy()` throws an error that says to run
// `apt-get install haproxy` (.ci/run installs it). Every started haproxy is killed by `stop()`,
// and by a process 'exit' hook should a test never reach its `finally`; its directory is removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

/** The example configuration the tests run. */
export const EXAMPLE_CONFIG = fileURLToPath(new URL('../../examples/haproxy.cfg', import.meta.url));

const SEARCH_PATH = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** A host and port. */
export interface Endpoint {
  host: string;
  port: number;
}

/** How to render the example config for a test. */
export interface RenderOptions {
  /** The frontend's listening addresses (each replaces the example's `bind` line). */
  binds: readonly Endpoint[];
  /** The backend servers (they replace the example's `server` lines, keeping their options). */
  servers: readonly Endpoint[];
  /** The PROXY protocol version haproxy sends: `'v2'` as in the example, `'v1'` is `send-proxy`. */
  sendProxy: 'v1' | 'v2';
}

/**
 * The example config with its `bind` and `server` addresses replaced. Throws if the example no
 * longer has the lines the test relies on (one `bind`, `server` lines with `send-proxy-v2`).
 */
export function renderConfig(template: string, options: RenderOptions): string {
  const lines = template.split('\n');
  const bind = lines.filter((line) => /^\s*bind\s/.test(line));
  const servers = lines.filter((line) => /^\s*server\s/.test(line));
  if (bind.length !== 1 || servers.length === 0) {
    throw new Error(
      'examples/haproxy.cfg must have one `bind` line and at least one `server` line',
    );
  }
  const server = /^(\s*)server\s+\S+\s+\S+\s+(.*)$/.exec(servers[0]!);
  if (server === null || !/\bsend-proxy-v2\b/.test(server[2]!)) {
    throw new Error('the `server` lines of examples/haproxy.cfg must use send-proxy-v2');
  }
  const indent = server[1]!;
  const serverOptions =
    options.sendProxy === 'v1' ? server[2]!.replace(/\bsend-proxy-v2\b/, 'send-proxy') : server[2]!;
  const out: string[] = [];
  let serversWritten = false;
  for (const line of lines) {
    if (line === bind[0]) {
      const bindIndent = /^\s*/.exec(line)![0];
      for (const b of options.binds) out.push(`${bindIndent}bind ${hostPort(b)}`);
    } else if (/^\s*server\s/.test(line)) {
      if (serversWritten) continue;
      serversWritten = true;
      options.servers.forEach((s, i) => {
        out.push(`${indent}server node${i + 1} ${hostPort(s)} ${serverOptions}`);
      });
    } else {
      out.push(line);
    }
  }
  return out.join('\n');
}

function hostPort({ host, port }: Endpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The path of the haproxy binary, looked for in `dirs` (default: PATH, then /usr/sbin and the
 * other sbin directories); throws, saying how to install it, when there is none.
 */
export async function findHaproxy(
  dirs: readonly string[] = [
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
    ...SEARCH_PATH,
  ],
): Promise<string> {
  for (const dir of dirs) {
    const candidate = path.join(dir, 'haproxy');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    'haproxy is not installed (looked in PATH and /usr/sbin): the PROXY protocol tests need a ' +
      'real HAProxy; run `apt-get install haproxy` (as root; .ci/run does it in CI)',
  );
}

/** A free TCP port on `host` (listen on 0, close). */
export async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A running haproxy. */
export interface Haproxy {
  /** The frontend addresses, as bound. */
  readonly binds: readonly Endpoint[];
  /** The rendered configuration. */
  readonly config: string;
  /** Everything haproxy wrote to stderr so far. */
  stderr(): string;
  /** Kills haproxy (SIGTERM, then SIGKILL) and removes its directory; idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Options of {@link startHaproxy}. */
export interface StartHaproxyOptions {
  /** The backend servers (node servers on loopback). */
  servers: readonly Endpoint[];
  /** Which PROXY header haproxy sends. */
  sendProxy: 'v1' | 'v2';
  /** The frontend hosts (a free port is picked for each; default `['127.0.0.1']`). */
  bindHosts?: readonly string[];
  /** How long to wait until haproxy accepts connections, in ms (default 10 000). */
  startTimeout?: number;
}

/**
 * Starts haproxy with examples/haproxy.cfg rendered for loopback; resolves once every frontend
 * accepts connections. Retries (a few times) if a picked port was taken meanwhile.
 */
export async function startHaproxy(options: StartHaproxyOptions): Promise<Haproxy> {
  const binary = await findHaproxy();
  const template = await readFile(EXAMPLE_CONFIG, 'utf8');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const binds: Endpoint[] = [];
    for (const host of options.bindHosts ?? ['127.0.0.1']) {
      binds.push({ host, port: await freePort(host) });
    }
    const config = renderConfig(template, {
      binds,
      servers: options.servers,
      sendProxy: options.sendProxy,
    });
    try {
      return await launch(binary, config, binds, options.startTimeout ?? 10_000);
    } catch (error) {
      lastError = error;
      if (!/cannot bind|Address already in use/i.test(String(error))) throw error;
    }
  }
  throw lastError;
}

async function launch(
  binary: string,
  config: string,
  binds: readonly Endpoint[],
  startTimeout: number,
): Promise<Haproxy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dispatch-bridge-haproxy-'));
  const file = path.join(dir, 'haproxy.cfg');
  await writeFile(file, `${config}\n`);
  installExitHook();
  const child = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => (stderr += text));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
    child.once('error', (error) => {
      stderr += `\nspawn failed: ${error.message}`;
      running.delete(child);
      resolve();
    });
  });
  let stopped: Promise<void> | undefined;
  const haproxy: Haproxy = {
    binds,
    config,
    stderr: () => stderr,
    stop: () =>
      (stopped ??= (async () => {
        if (running.has(child)) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(killer);
        }
        await rm(dir, { recursive: true, force: true });
      })()),
  };
  try {
    const deadline = Date.now() + startTimeout;
    for (const bind of binds) {
      while (!(await accepts(bind))) {
        if (!running.has(child)) throw new Error(`haproxy exited at start:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`haproxy did not start in time:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return haproxy;
  } catch (error) {
    await haproxy.stop();
    throw error;
  }
}

// True once a TCP connection to `endpoint` is accepted (then closed at once). haproxy relays it
// to a backend, which sees a PROXY header and an end: the tests ignore connections not theirs.
function accepts(endpoint: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(endpoint.port, endpoint.host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
