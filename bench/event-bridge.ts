/**
 * Event-bridge benchmark: `fromEvents` against Node's `events.on` and `@repeaterjs/repeater`.
 *
 * - Throughput: 1 000 000 events emitted synchronously, then consumed with `for await`; each
 *   measurement runs in a fresh child process (`--expose-gc`, a 100 000-event warm-up, `gc()`
 *   before timing), several repetitions, the median reported.
 * - Memory: a producer emitting 512-byte buffers in batches and a slow consumer; peak heapUsed /
 *   + external and RSS above the starting point. `fromEvents` (overflow 'pause') and `events.on` with its
 *   `highWaterMark` pause the producer; `events.on` without it buffers everything.
 *
 * Run standalone: `node --import ./scripts/ts-register.mjs bench/event-bridge.ts`.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { EventEmitter, on, once } from 'node:events';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setImmediate as tick } from 'node:timers/promises';
import { FixedBuffer, Repeater, type RepeaterBuffer } from '@repeaterjs/repeater';
import { RingBuffer } from '../src/adapter/_ring-buffer.js';
import { fromEvents } from '../src/adapter/index.js';

const BURST = 1_000_000;
const WARM_UP = 100_000;
const REPETITIONS = 5;
/**
 * Repeater creates several promises per push and runs 50-100x slower (about a minute per run on
 * the full burst), so it gets one run: at that distance a median would not change a ratio.
 */
const REPEATER_REPETITIONS = 1;
const REPEATER_OWN_BUFFER_BURST = 50_000;
const MEMORY_EVENTS = 100_000;
const MEMORY_PAYLOAD = 512;
const HIGH_WATER_MARK = 1024;

type Impl = 'fromEvents' | 'events.on' | 'repeater-ring' | 'repeater-fixed';
type MemoryImpl = 'fromEvents' | 'events.on' | 'events.on-hwm';

const IMPL_LABELS: Record<Impl, string> = {
  fromEvents: "`fromEvents` (overflow 'unbounded')",
  'events.on': '`events.on` (node:events)',
  'repeater-ring': '`Repeater` + a ring `RepeaterBuffer`',
  'repeater-fixed': '`Repeater` + its own `FixedBuffer`',
};

const MEMORY_LABELS: Record<MemoryImpl, string> = {
  fromEvents: `\`fromEvents\` (overflow 'pause', highWaterMark ${HIGH_WATER_MARK})`,
  'events.on': '`events.on` (no highWaterMark)',
  'events.on-hwm': `\`events.on\` (highWaterMark ${HIGH_WATER_MARK})`,
};

/** A Repeater buffer on our ring buffer, so that Repeater is not measured on `Array.shift`. */
class RingRepeaterBuffer<T> implements RepeaterBuffer<T> {
  readonly #ring = new RingBuffer<T>();
  readonly #capacity: number;
  constructor(capacity: number) {
    this.#capacity = capacity;
  }
  get empty(): boolean {
    return this.#ring.length === 0;
  }
  get full(): boolean {
    return this.#ring.length >= this.#capacity;
  }
  add(value: T): void {
    this.#ring.push(value);
  }
  remove(): T {
    return this.#ring.shift() as T;
  }
}

function makeIterator(impl: Impl, emitter: EventEmitter, n: number): AsyncIterator<unknown> {
  switch (impl) {
    case 'fromEvents':
      return fromEvents(emitter, 'e', { overflow: 'unbounded' });
    case 'events.on':
      return on(emitter, 'e');
    case 'repeater-ring':
    case 'repeater-fixed':
      return new Repeater<unknown>(
        async (push, stop) => {
          const listener = (value: unknown): void => void push(value);
          emitter.on('e', listener);
          await stop;
          emitter.off('e', listener);
        },
        impl === 'repeater-ring' ? new RingRepeaterBuffer(n) : new FixedBuffer(n),
      );
  }
}

/** Emits `n` events synchronously, then consumes them all; returns the elapsed milliseconds. */
async function burst(impl: Impl, n: number): Promise<number> {
  const emitter = new EventEmitter();
  const iterator = makeIterator(impl, emitter, n);
  const start = performance.now();
  // a first next() starts Repeater's (lazy) executor; the same step is done for every row
  const first = iterator.next();
  for (let i = 0; i < n; i++) emitter.emit('e', i);
  let received = (await first).done === true ? 0 : 1;
  while (received < n) {
    const step = await iterator.next();
    if (step.done === true) break;
    received++;
  }
  const elapsed = performance.now() - start;
  await iterator.return?.();
  if (received !== n) throw new Error(`Lost events: received ${received} of ${n}`);
  return elapsed;
}

class PausableEmitter extends EventEmitter {
  paused = false;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.emit('resumed');
  }
}

/** A batch producer and a slow consumer; returns the peak heap+external and RSS growth in bytes. */
async function slowConsumer(impl: MemoryImpl): Promise<{ heap: number; rss: number }> {
  const emitter = new PausableEmitter();
  const iterator: AsyncIterator<unknown> =
    impl === 'fromEvents'
      ? fromEvents(emitter, 'e', {
          highWaterMark: HIGH_WATER_MARK,
          pause: () => emitter.pause(),
          resume: () => emitter.resume(),
        })
      : impl === 'events.on'
        ? on(emitter, 'e')
        : on(emitter, 'e', { highWaterMark: HIGH_WATER_MARK });
  globalThis.gc?.();
  const base = process.memoryUsage();
  let peakHeap = 0;
  let peakRss = 0;
  const sample = (): void => {
    const usage = process.memoryUsage();
    peakHeap = Math.max(peakHeap, usage.heapUsed + usage.external - base.heapUsed - base.external);
    peakRss = Math.max(peakRss, usage.rss - base.rss);
  };
  const producer = (async () => {
    let sent = 0;
    while (sent < MEMORY_EVENTS) {
      if (emitter.paused) {
        await once(emitter, 'resumed');
        continue;
      }
      for (let i = 0; i < 1000 && sent < MEMORY_EVENTS && !emitter.paused; i++) {
        emitter.emit('e', Buffer.alloc(MEMORY_PAYLOAD, sent++ & 0xff));
      }
      sample();
      await tick();
    }
  })();
  let received = 0;
  while (received < MEMORY_EVENTS) {
    const step = await iterator.next();
    if (step.done === true) break;
    received++;
    if (received % 10 === 0) {
      sample();
      await tick();
    }
  }
  await producer;
  await iterator.return?.();
  if (received !== MEMORY_EVENTS) throw new Error(`Lost events: ${received} of ${MEMORY_EVENTS}`);
  return { heap: peakHeap, rss: peakRss };
}

async function child(kind: string, impl: string): Promise<void> {
  let result: unknown;
  if (kind === 'burst') {
    const n = impl === 'repeater-fixed' ? REPEATER_OWN_BUFFER_BURST : BURST;
    await burst(impl as Impl, Math.min(WARM_UP, n));
    globalThis.gc?.();
    const ms = await burst(impl as Impl, n);
    result = { n, ms };
  } else {
    result = await slowConsumer(impl as MemoryImpl);
  }
  process.stdout.write(JSON.stringify(result));
}

const here = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

function runChild<T>(kind: string, impl: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', './scripts/ts-register.mjs', here, '--child', kind, impl],
      { cwd: root, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`Benchmark child failed: ${stderr || error.message}`));
        else resolve(JSON.parse(stdout) as T);
      },
    );
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Runs the event-bridge benchmark (fresh child processes) and returns a markdown report.
 *
 * @example
 * ```ts
 * console.log(await runEventBridgeBenchmark());
 * ```
 */
export async function runEventBridgeBenchmark(): Promise<string> {
  const impls: Impl[] = ['fromEvents', 'events.on', 'repeater-ring'];
  const rates = new Map<Impl, number[]>(impls.map((impl) => [impl, []]));
  for (let rep = 0; rep < REPETITIONS; rep++) {
    for (const impl of impls) {
      if (impl === 'repeater-ring' && rep >= REPEATER_REPETITIONS) continue;
      const { n, ms } = await runChild<{ n: number; ms: number }>('burst', impl);
      rates.get(impl)!.push((n / ms) * 1000);
    }
  }
  const own = await runChild<{ n: number; ms: number }>('burst', 'repeater-fixed');
  const medians = new Map(impls.map((impl) => [impl, median(rates.get(impl)!)]));
  const base = medians.get('fromEvents')!;
  const lines = [
    `### Event bridge: ${fmt(BURST)}-event synchronous burst, then drain`,
    '',
    `Node ${process.version}; each run in a fresh child process after a warm-up; median of ${REPETITIONS} (Repeater: ${REPEATER_REPETITIONS}).`,
    '',
    '| implementation | events/s (median) | fromEvents is × faster |',
    '| --- | ---: | ---: |',
    ...impls.map(
      (impl) =>
        `| ${IMPL_LABELS[impl]} | ${fmt(medians.get(impl)!)} | ${
          impl === 'fromEvents' ? '—' : (base / medians.get(impl)!).toFixed(2)
        } |`,
    ),
    `| ${IMPL_LABELS['repeater-fixed']}, ${fmt(own.n)} events only (its \`Array.shift\` queue is quadratic) | ${fmt(
      (own.n / own.ms) * 1000,
    )} | ${(base / ((own.n / own.ms) * 1000)).toFixed(2)} |`,
    '',
    `### Event bridge: memory with a slow consumer (${fmt(MEMORY_EVENTS)} events of ${MEMORY_PAYLOAD} bytes)`,
    '',
    '| implementation | peak heapUsed + external Δ | peak RSS Δ |',
    '| --- | ---: | ---: |',
  ];
  for (const impl of ['fromEvents', 'events.on-hwm', 'events.on'] as MemoryImpl[]) {
    const { heap, rss } = await runChild<{ heap: number; rss: number }>('memory', impl);
    lines.push(`| ${MEMORY_LABELS[impl]} | ${mib(heap)} | ${mib(rss)} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const index = process.argv.indexOf('--child');
  if (index >= 0) await child(process.argv[index + 1]!, process.argv[index + 2]!);
  else process.stdout.write(await runEventBridgeBenchmark());
}
