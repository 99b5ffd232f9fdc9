// `npm run soak` (`-- --quick` for a ~20 s version): load, leaks and slow consumers on every server
// style, and the hostile-peer attacks of soak/attacks.ts (`-- --attacks` for those alone), over
// loopback. Bounded in count and time; prints a report table; exits 1 on any failure.
//
//   node --expose-gc --import ./scripts/ts-register.mjs soak/run.ts [--quick] [--attacks]
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  STYLES,
  connectCloseCycles,
  openFds,
  pingPong,
  processListeners,
  resourceCounts,
  startStyle,
  type Style,
} from './servers.js';
import { HALF_CLOSE_KINDS, halfCloseReader, halfCloseServer, tlsStorm } from './lifecycle.js';
import { AttackServer, hoarders, neverReads, trickle, type AttackResult } from './attacks.js';

const quick = process.argv.includes('--quick');
const attacksOnly = process.argv.includes('--attacks');

/** The attacks' sizes and bounds (issue #11). */
const ATTACKS = {
  neverReads: { offered: 200 << 20, clients: 4, bound: 64 << 20 },
  neverReadsStyles: ['legacy', 'legacy-on-modern', 'modern-on-legacy', 'mixed'] as const,
  trickle: quick
    ? { clients: 10, perClient: 20_000, bound: 32 << 20 }
    : { clients: 20, perClient: 30_000, bound: 32 << 20 },
  trickleStyles: ['legacy', 'modern'] as const,
  hoarders: { concurrency: 4, queueTimeout: 1_000 },
  hoarderKinds: ['bounded-modern', 'bounded-mixed'] as const,
};

/** The sizes of a run. */
const PLAN = quick
  ? {
      connections: 1000,
      messages: 3,
      cycles: 2_000,
      slowClients: 2,
      slowCap: 32 << 20,
      halfCloseLines: 200_000,
      halfCloseDelay: 500,
      storm: 400,
    }
  : {
      connections: 1000,
      messages: 20,
      cycles: 20_000,
      slowClients: 4,
      slowCap: 64 << 20,
      halfCloseLines: 200_000,
      halfCloseDelay: 2_000,
      storm: 2_000,
    };

/** The reader limit of the slow-consumer runs (and the chats' maxIncoming). */
const SLOW_LIMIT = 16 * 1024;
/** One connection may hold 2 x limit in its reader, plus one socket read of up to 64 KiB each
 * in the socket and in the adapter between them. */
const SLOW_BOUND = 2 * SLOW_LIMIT + 3 * 65536;
/** RSS may grow this much during one style's slow-consumer run (secondary check). */
const RSS_BOUND = 48 << 20;
/** Heap after GC may grow this much over a connect/close run. */
const HEAP_TOLERANCE = 2 << 20;

interface Row {
  check: string;
  style: Style | 'all';
  result: string;
  ok: boolean;
  seconds: number;
}

const rows: Row[] = [];

function record(
  check: string,
  style: Style | 'all',
  ok: boolean,
  result: string,
  t0: number,
): void {
  const row = { check, style, ok, result, seconds: (performance.now() - t0) / 1000 };
  rows.push(row);
  console.log(
    `${ok ? 'ok  ' : 'FAIL'} ${check} [${style}] ${result} (${row.seconds.toFixed(1)} s)`,
  );
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('Cannot collect garbage: run node with --expose-gc');
  for (let i = 0; i < 3; i++) collect();
}

async function heapAfterGc(): Promise<number> {
  await sleep(10);
  gc();
  await sleep(10);
  gc();
  return process.memoryUsage().heapUsed;
}

const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MiB`;
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;

/** Polls `probe` (every 10 ms, at most `ms`) until it returns true. */
async function settle(probe: () => boolean | Promise<boolean>, ms = 3_000): Promise<boolean> {
  const end = performance.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (performance.now() > end) return false;
    await sleep(10);
  }
}

function sameResources(a: Record<string, number>, b: Record<string, number>): string[] {
  const diff: string[] = [];
  for (const type of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if ((a[type] ?? 0) !== (b[type] ?? 0)) diff.push(`${type} ${a[type] ?? 0}->${b[type] ?? 0}`);
  }
  return diff;
}

async function fdLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

async function concurrent(style: Style): Promise<void> {
  const t0 = performance.now();
  const server = await startStyle(style, { backlog: 1024 });
  try {
    const result = await pingPong(server.port, {
      connections: PLAN.connections,
      messages: PLAN.messages,
      opening: 200,
    });
    const expected = PLAN.connections * PLAN.messages;
    const drained = await settle(() => server.tracked() === 0);
    const ok =
      result.peak === PLAN.connections &&
      result.replies === expected &&
      result.wrong === 0 &&
      result.lost === 0 &&
      drained;
    record(
      `${PLAN.connections} concurrent x ${PLAN.messages} ping-pong`,
      style,
      ok,
      `${result.replies}/${expected} replies, ${result.wrong} wrong, ${result.lost} lost, ` +
        `peak ${result.peak} open, ${server.tracked()} left on the server`,
      t0,
    );
  } finally {
    await server.close();
  }
}

async function cycles(style: Style, count: number): Promise<void> {
  const t0 = performance.now();
  const server = await startStyle(style);
  try {
    // Warm up: lazily created module state and first-connection allocations are not leaks.
    await connectCloseCycles(server.port, { cycles: 200, parallel: 20 });
    await settle(() => server.tracked() === 0);
    const fds = await openFds();
    const resources = resourceCounts();
    const listeners = server.listeners();
    const onProcess = processListeners();
    const heap = await heapAfterGc();

    const good = await connectCloseCycles(server.port, { cycles: count, parallel: 50 });

    const drained = await settle(() => server.tracked() === 0);
    const fdsBack = await settle(async () => (await openFds()) === fds);
    const resourcesBack = await settle(
      () => sameResources(resources, resourceCounts()).length === 0,
    );
    const fdsAfter = await openFds();
    const diff = sameResources(resources, resourceCounts());
    const heapAfter = await heapAfterGc();
    const ok =
      good === count &&
      drained &&
      fdsBack &&
      resourcesBack &&
      server.listeners() === listeners &&
      processListeners() === onProcess &&
      heapAfter - heap <= HEAP_TOLERANCE;
    record(
      `${count} connect/close cycles`,
      style,
      ok,
      `${good}/${count} ok; fds ${fds}->${fdsAfter}; resources ${diff.length === 0 ? 'same' : diff.join(', ')}; ` +
        `tracked ${server.tracked()}; listeners ${listeners}->${server.listeners()}, ` +
        `process ${onProcess}->${processListeners()}; heap ${mib(heap)}->${mib(heapAfter)}`,
      t0,
    );
  } finally {
    await server.close();
  }
}

/**
 * A fast sender: writes 64 KiB chunks as fast as the transport takes them, until it has sent
 * `cap` bytes or the transport stays congested for 500 ms (the pushback reached it).
 */
async function flood(port: number, cap: number): Promise<{ sent: number; socket: net.Socket }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunk = Buffer.alloc(65536, 'x');
  let sent = 0;
  while (sent < cap) {
    sent += chunk.length;
    if (socket.write(chunk)) continue;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => socket.once('drain', () => resolve(true))),
      sleep(500, false),
    ]);
    if (!drained) break;
  }
  return { sent: sent - socket.writableLength, socket };
}

async function slowConsumer(style: Style): Promise<void> {
  const t0 = performance.now();
  const server = await startStyle(style, { slow: true, limit: SLOW_LIMIT });
  const sockets: net.Socket[] = [];
  try {
    gc();
    const rss = process.memoryUsage().rss;
    const results = await Promise.all(
      Array.from({ length: PLAN.slowClients }, () => flood(server.port, PLAN.slowCap)),
    );
    sockets.push(...results.map((r) => r.socket));
    const perConnection = server.maxBufferedPerConnection();
    const total = server.buffered();
    gc();
    const growth = process.memoryUsage().rss - rss;
    const stalled = results.every((r) => r.sent < PLAN.slowCap);
    const ok =
      stalled &&
      server.connections() === PLAN.slowClients &&
      perConnection > 0 &&
      perConnection <= SLOW_BOUND &&
      total <= SLOW_BOUND * PLAN.slowClients &&
      growth <= RSS_BOUND;
    record(
      `slow consumer, ${PLAN.slowClients} fast senders`,
      style,
      ok,
      `${server.connections()} open; senders ${stalled ? 'pushed back' : 'NOT pushed back'} after ${results.map((r) => mib(r.sent)).join('/')}; ` +
        `server holds max ${kib(perConnection)}/connection (bound ${kib(SLOW_BOUND)}), ${kib(total)} total (bound ${kib(SLOW_BOUND * PLAN.slowClients)}); ` +
        `RSS +${mib(growth)} (bound ${mib(RSS_BOUND)})`,
      t0,
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.close();
  }
}

async function halfClose(kind: (typeof HALF_CLOSE_KINDS)[number]): Promise<void> {
  const t0 = performance.now();
  const server = await halfCloseServer(kind);
  try {
    const replies = await halfCloseReader(server.port, PLAN.halfCloseLines, PLAN.halfCloseDelay);
    record(
      `half-close: ${PLAN.halfCloseLines} lines, write side shut, read ${PLAN.halfCloseDelay} ms later`,
      'all',
      replies === PLAN.halfCloseLines,
      `[${kind}] ${replies}/${PLAN.halfCloseLines} replies`,
      t0,
    );
  } finally {
    await server.close();
  }
}

async function storm(kind: 'modern' | 'mixed'): Promise<void> {
  const t0 = performance.now();
  const result = await tlsStorm(kind, PLAN.storm);
  record(
    `TLS storm: ${PLAN.storm} clients give up mid-handshake`,
    'all',
    result.fdsAfter <= result.fdsBefore && result.served,
    `[${kind}] fds ${result.fdsBefore}->${result.fdsAfter} within 3 s, honest client ${result.served ? 'served' : 'NOT served'}`,
    t0,
  );
}

// Each attack gets a fresh server process: memory freed after one attack (but kept by the
// allocator) must not hide the next one's growth.
async function attack(
  check: string,
  style: Style | 'all',
  run: (server: AttackServer) => Promise<AttackResult>,
): Promise<void> {
  const t0 = performance.now();
  const server = AttackServer.spawn();
  try {
    const { ok, result } = await run(server);
    record(check, style, ok, result, t0);
  } catch (error) {
    record(check, style, false, `failed: ${String(error)}`, t0);
  } finally {
    await server.exit();
  }
}

async function attacks(): Promise<void> {
  const never = ATTACKS.neverReads;
  for (const style of ATTACKS.neverReadsStyles) {
    await attack(`pipelining client that never reads, ${never.clients} clients`, style, (server) =>
      neverReads(server, style, never),
    );
  }
  const drip = ATTACKS.trickle;
  for (const style of ATTACKS.trickleStyles) {
    await attack(`1-byte-segment trickle, ${drip.clients} connections`, style, (server) =>
      trickle(server, style, drip),
    );
  }
  for (const kind of ATTACKS.hoarderKinds) {
    await attack(
      `idle hoarders against concurrency ${ATTACKS.hoarders.concurrency}`,
      'all',
      async (server) => {
        const { ok, result } = await hoarders(server, kind, ATTACKS.hoarders);
        return { ok, result: `[${kind}] ${result}` };
      },
    );
  }
}

async function main(): Promise<number> {
  const started = performance.now();
  console.log(
    `dispatch-bridge soak (${quick ? 'quick' : 'full'}${attacksOnly ? ', attacks only' : ''}), node ${process.version}`,
  );
  const limit = await fdLimit();
  // Each concurrent connection takes two fds in this process (client and server side).
  const needed = 2 * PLAN.connections + 256;
  if (limit < needed) {
    console.error(
      `Cannot run: the open-file limit is ${limit}, the concurrency run needs ${needed} (raise it with ulimit -n)`,
    );
    return 1;
  }
  // Warm up every style once: modules compiled and fds opened lazily by the runtime on the first
  // connection are not leaks. The whole-run check starts from here.
  for (const style of STYLES) {
    const server = await startStyle(style);
    await pingPong(server.port, { connections: 10, messages: 1 });
    await server.close();
  }
  await sleep(100);
  const fds = await openFds();
  const resources = resourceCounts();

  if (!attacksOnly) {
    for (const style of STYLES) await concurrent(style);
    const perStyle = Math.ceil(PLAN.cycles / STYLES.length);
    for (const style of STYLES) await cycles(style, perStyle);
    for (const style of STYLES) await slowConsumer(style);
    for (const kind of HALF_CLOSE_KINDS) await halfClose(kind);
    for (const kind of ['modern', 'mixed'] as const) await storm(kind);
  }
  await attacks();

  const t0 = performance.now();
  const fdsBack = await settle(async () => (await openFds()) === fds);
  const diff = sameResources(resources, resourceCounts());
  record(
    'whole run: fds and resources back to start',
    'all',
    fdsBack && diff.length === 0,
    `fds ${fds}->${await openFds()}; resources ${diff.length === 0 ? 'same' : diff.join(', ')}`,
    t0,
  );

  console.log('');
  console.table(
    rows.map((row) => ({
      check: row.check,
      style: row.style,
      ok: row.ok ? 'ok' : 'FAIL',
      seconds: Number(row.seconds.toFixed(1)),
      result: row.result,
    })),
  );
  const failed = rows.filter((row) => !row.ok).length;
  console.log(
    `${rows.length - failed}/${rows.length} checks passed in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return failed === 0 ? 0 : 1;
}

// A hard stop, so that a hang fails the run instead of blocking it.
const watchdog = setTimeout(
  () => {
    console.error('Soak run took too long: stopped');
    process.exit(1);
  },
  (quick ? 180 : 900) * 1000,
);
watchdog.unref();

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
