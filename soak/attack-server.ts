// The server side of the hostile-peer attacks of `npm run soak` (soak/attacks.ts): a child
// process, so that its memory and fds are the server's alone. It takes commands over IPC:
//   { id, cmd: 'start', kind, ... }  starts one server (a soak style, or a concurrency-bound one)
//   { id, cmd: 'measure' }           collects garbage, then reports RSS, heap and open fds
//   { id, cmd: 'stop' }              stops the server and waits until it is gone
// and answers each with { id, result } or { id, error }.
//
//   node --expose-gc --import ./scripts/ts-register.mjs soak/attack-server.ts
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { startMixedServer } from '../src/adapter/index.js';
import { startServer } from '../src/modern/index.js';
import { echo, LineEcho } from './_echo.js';
import { STYLES, startStyle, type Style } from './servers.js';

/** A command of the parent. */
export type AttackCommand =
  | { id: number; cmd: 'start'; kind: Style }
  | {
      id: number;
      cmd: 'start';
      kind: 'bounded-modern' | 'bounded-mixed';
      concurrency: number;
      queueTimeout: number;
    }
  | { id: number; cmd: 'measure' }
  | { id: number; cmd: 'stop' };

/** What `measure` reports. */
export interface Measurement {
  rss: number;
  heapUsed: number;
  external: number;
  fds: number;
  /** Connections the server still tracks. */
  tracked: number;
}

const HOST = '127.0.0.1';

/** The line echo, without its log lines (the attacks make it log on purpose). */
class QuietLineEcho extends LineEcho {
  override logInfo(): void {}
}

interface Running {
  port: number;
  tracked(): number;
  close(): Promise<void>;
}

let running: Running | null = null;

async function start(command: Extract<AttackCommand, { cmd: 'start' }>): Promise<number> {
  if (running !== null) throw new Error('Cannot start: a server is running');
  if (command.kind === 'bounded-modern' || command.kind === 'bounded-mixed') {
    const options = {
      host: HOST,
      port: 0,
      concurrency: command.concurrency,
      queueTimeout: command.queueTimeout,
    };
    const server =
      command.kind === 'bounded-modern'
        ? await startServer(echo, options)
        : await startMixedServer({
            ...options,
            legacy: QuietLineEcho,
            modern: echo,
            route: 'modern',
          });
    running = {
      port: (server.address() as { port: number }).port,
      tracked: () => server.connections,
      close: () => server.shutdown({ timeout: 0 }),
    };
  } else {
    if (!STYLES.includes(command.kind)) throw new Error(`Cannot start: no style ${command.kind}`);
    const server = await startStyle(command.kind);
    running = { port: server.port, tracked: () => server.tracked(), close: () => server.close() };
  }
  return running.port;
}

async function measure(): Promise<Measurement> {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('Cannot collect garbage: run node with --expose-gc');
  for (let i = 0; i < 2; i++) {
    collect();
    await sleep(10);
  }
  collect();
  const usage = process.memoryUsage();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    external: usage.external,
    fds: (await readdir('/proc/self/fd')).length,
    tracked: running?.tracked() ?? 0,
  };
}

async function handle(command: AttackCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'start':
      return start(command);
    case 'measure':
      return measure();
    case 'stop': {
      const server = running;
      running = null;
      await server?.close();
      return null;
    }
  }
}

process.on('message', (command: AttackCommand) => {
  handle(command).then(
    (result) => process.send?.({ id: command.id, result }),
    (error: unknown) => process.send?.({ id: command.id, error: String(error) }),
  );
});
// The parent went away: nothing is left to serve.
process.on('disconnect', () => {
  void running?.close().finally(() => process.exit(0));
  if (running === null) process.exit(0);
});
