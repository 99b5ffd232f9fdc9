/* eslint-disable @typescript-eslint/require-await -- async generators stand in for async sources */
import { expect } from 'chai';
import { EventEmitter, getEventListeners } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import { EventEmitter as EventEmitter3 } from 'eventemitter3';
import { fromEvents, toCallbacks } from '../../src/adapter/index.js';
import { LimitOverrunError } from '../../src/modern/errors.js';
import { duplexPair } from '../helpers/duplex-pair.js';

/** Listener counts of the events a test uses, on a node:events or eventemitter3 emitter. */
function counts(emitter: { listenerCount(event: string): number }, ...events: string[]): number[] {
  return events.map((event) => emitter.listenerCount(event));
}

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

async function take<T>(iterator: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const step = await iterator.next();
    if (step.done === true) break;
    out.push(step.value);
  }
  return out;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

describe('fromEvents()', () => {
  describe('subscription and delivery', () => {
    it('yields events emitted before the first next(), in order', async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'data', { end: 'end' });
      expect(ee.listenerCount('data')).to.equal(1);
      ee.emit('data', 1);
      ee.emit('data', 2);
      ee.emit('end');
      const seen: number[] = [];
      for await (const value of it) seen.push(value);
      expect(seen).to.deep.equal([1, 2]);
      expect(counts(ee, 'data', 'end', 'error')).to.deep.equal([0, 0, 0]);
    });

    it('yields the first argument by default and the argument array with multiArgs', async () => {
      const ee = new EventEmitter();
      const first = fromEvents<string>(ee, 'pair');
      const all = fromEvents<[string, number]>(ee, 'pair', { multiArgs: true });
      ee.emit('pair', 'a', 1);
      expect(await first.next()).to.deep.equal({ value: 'a', done: false });
      expect(await all.next()).to.deep.equal({ value: ['a', 1], done: false });
      await first.return();
      await all.return();
      expect(ee.listenerCount('pair')).to.equal(0);
    });

    it('works with eventemitter3 emitters', async () => {
      const ee = new EventEmitter3();
      const it = fromEvents<string>(ee, 'line', { end: 'close' });
      ee.emit('line', 'x');
      ee.emit('line', 'y');
      ee.emit('close');
      const seen: string[] = [];
      for await (const line of it) seen.push(line);
      expect(seen).to.deep.equal(['x', 'y']);
      expect(counts(ee, 'line', 'close', 'error')).to.deep.equal([0, 0, 0]);
    });

    it('fails with an eventemitter3 error event after the buffered items', async () => {
      const ee = new EventEmitter3();
      const it = fromEvents<number>(ee, 'n');
      const boom = new Error('boom');
      ee.emit('n', 1);
      ee.emit('error', boom);
      expect(await it.next()).to.deep.equal({ value: 1, done: false });
      const error = await it.next().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.equal(boom);
      expect(await it.next()).to.deep.equal({ value: undefined, done: true });
      expect(counts(ee, 'n', 'error')).to.deep.equal([0, 0]);
    });

    it('works with an EventTarget, yielding the Event objects', async () => {
      const target = new EventTarget();
      const it = fromEvents<Event>(target, 'ping', { end: 'done' });
      expect(getEventListeners(target, 'ping')).to.have.length(1);
      target.dispatchEvent(new Event('ping'));
      target.dispatchEvent(new Event('ping'));
      target.dispatchEvent(new Event('done'));
      const types: string[] = [];
      for await (const event of it) types.push(event.type);
      expect(types).to.deep.equal(['ping', 'ping']);
      expect(getEventListeners(target, 'ping')).to.have.length(0);
      expect(getEventListeners(target, 'done')).to.have.length(0);
    });

    it('listens for no error event on an EventTarget unless asked', async () => {
      const target = new EventTarget();
      const plain = fromEvents(target, 'ping');
      expect(getEventListeners(target, 'error')).to.have.length(0);
      const withError = fromEvents(target, 'ping', { error: 'error' });
      expect(getEventListeners(target, 'error')).to.have.length(1);
      const errorEvent = new Event('error');
      target.dispatchEvent(errorEvent);
      const error = await withError.next().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.equal(errorEvent);
      await plain.return();
      expect(getEventListeners(target, 'ping')).to.have.length(0);
      expect(getEventListeners(target, 'error')).to.have.length(0);
    });

    it('loses no event of a synchronous burst of 100 000 events', async () => {
      const ee = new EventEmitter();
      const total = 100_000;
      const it = fromEvents<number>(ee, 'n', { highWaterMark: total, end: 'end' });
      for (let i = 0; i < total; i++) ee.emit('n', i);
      ee.emit('end');
      let expected = 0;
      for await (const value of it) {
        if (value !== expected) break;
        expected++;
      }
      expect(expected).to.equal(total);
      expect(counts(ee, 'n', 'end', 'error')).to.deep.equal([0, 0, 0]);
    });

    it('loses no event when bursts and awaits interleave', async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'n', { overflow: 'unbounded' });
      const seen: number[] = [];
      let next = 0;
      for (let round = 0; round < 50; round++) {
        const burst = (round % 7) + 1;
        for (let i = 0; i < burst; i++) ee.emit('n', next++);
        seen.push(...(await take(it, round % 3 === 0 ? burst : Math.ceil(burst / 2))));
      }
      while (seen.length < next) seen.push(...(await take(it, 1)));
      expect(seen).to.deep.equal(Array.from({ length: next }, (_, i) => i));
      await it.return();
      expect(ee.listenerCount('n')).to.equal(0);
    });

    it('serves several pending next() calls in FIFO order', async () => {
      const ee = new EventEmitter();
      const it = fromEvents<string>(ee, 'v', { end: 'end' });
      const a = it.next();
      const b = it.next();
      const c = it.next();
      const d = it.next();
      ee.emit('v', 'first');
      ee.emit('v', 'second');
      ee.emit('v', 'third');
      ee.emit('end');
      expect(await Promise.all([a, b, c, d])).to.deep.equal([
        { value: 'first', done: false },
        { value: 'second', done: false },
        { value: 'third', done: false },
        { value: undefined, done: true },
      ]);
      expect(counts(ee, 'v', 'end', 'error')).to.deep.equal([0, 0, 0]);
    });

    it('rejects the first pending next() on an error event and ends the others', async () => {
      const ee = new EventEmitter();
      const it = fromEvents(ee, 'v');
      const a = it.next();
      const b = it.next();
      const boom = new Error('boom');
      ee.emit('error', boom);
      const [ra, rb] = await Promise.allSettled([a, b]);
      expect(ra).to.deep.equal({ status: 'rejected', reason: boom });
      expect(rb).to.deep.equal({ status: 'fulfilled', value: { value: undefined, done: true } });
      expect(counts(ee, 'v', 'error')).to.deep.equal([0, 0]);
    });

    it('delivers an error event after the items buffered before it', async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'v');
      ee.emit('v', 1);
      ee.emit('v', 2);
      const boom = new Error('boom');
      ee.emit('error', boom);
      expect(counts(ee, 'v', 'error')).to.deep.equal([0, 0]);
      ee.emit('v', 3); // after the error: not delivered
      expect(it.bufferedLength).to.equal(2);
      const seen: number[] = [];
      let caught: unknown;
      try {
        for await (const value of it) seen.push(value);
      } catch (error) {
        caught = error;
      }
      expect(seen).to.deep.equal([1, 2]);
      expect(caught).to.equal(boom);
      expect(await it.next()).to.deep.equal({ value: undefined, done: true });
    });

    it('listens for custom end and error event names', async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'v', { end: ['finish', 'close'], error: ['fail'] });
      expect(counts(ee, 'finish', 'close', 'fail', 'error')).to.deep.equal([1, 1, 1, 0]);
      ee.emit('v', 1);
      ee.emit('close');
      expect(await take(it, 5)).to.deep.equal([1]);
      expect(counts(ee, 'v', 'finish', 'close', 'fail')).to.deep.equal([0, 0, 0, 0]);
    });

    it('iterates the error event itself when asked, without failing on it', async () => {
      const ee = new EventEmitter();
      const it = fromEvents<Error>(ee, 'error');
      const boom = new Error('boom');
      ee.emit('error', boom);
      expect(await it.next()).to.deep.equal({ value: boom, done: false });
      await it.return();
      expect(ee.listenerCount('error')).to.equal(0);
    });
  });

  describe('cleanup', () => {
    function setup() {
      const ee = new EventEmitter();
      const controller = new AbortController();
      const it = fromEvents<number>(ee, 'v', { end: 'end', signal: controller.signal });
      expect(counts(ee, 'v', 'end', 'error')).to.deep.equal([1, 1, 1]);
      expect(abortListeners(controller.signal)).to.equal(1);
      const clean = (): void => {
        expect(counts(ee, 'v', 'end', 'error')).to.deep.equal([0, 0, 0]);
        expect(abortListeners(controller.signal)).to.equal(0);
      };
      return { ee, controller, it, clean };
    }

    it('removes every listener on return(), ends pending next() and drops the buffer', async () => {
      const { ee, it, clean } = setup();
      ee.emit('v', 1);
      expect(await it.return()).to.deep.equal({ value: undefined, done: true });
      clean();
      expect(it.bufferedLength).to.equal(0);
      expect(await it.next()).to.deep.equal({ value: undefined, done: true });
      const { it: it2, clean: clean2 } = setup();
      const pending = it2.next();
      await it2.return();
      expect(await pending).to.deep.equal({ value: undefined, done: true });
      clean2();
    });

    it('removes every listener on throw() and rejects with the given error', async () => {
      const { it, clean } = setup();
      const pending = it.next();
      const boom = new Error('boom');
      const error = await it.throw(boom).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.equal(boom);
      expect(await pending).to.deep.equal({ value: undefined, done: true });
      clean();
      expect(await it.next()).to.deep.equal({ value: undefined, done: true });
    });

    it('removes every listener on an error event', async () => {
      const { ee, it, clean } = setup();
      ee.emit('error', new Error('boom'));
      clean();
      await it.next().catch(() => undefined);
    });

    it('removes every listener on an end event and ends after the buffered items', async () => {
      const { ee, it, clean } = setup();
      ee.emit('v', 1);
      ee.emit('end');
      clean();
      expect(await take(it, 3)).to.deep.equal([1]);
    });

    it('removes every listener on abort and rejects the pending next() with signal.reason', async () => {
      const { it, controller, clean } = setup();
      const pending = it.next();
      const reason = { custom: 'reason' };
      controller.abort(reason);
      const error = await pending.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.equal(reason);
      clean();
      expect(await it.next()).to.deep.equal({ value: undefined, done: true });
    });

    it('rejects the next next() with signal.reason after an abort, dropping the buffer', async () => {
      const { ee, it, controller, clean } = setup();
      ee.emit('v', 1);
      controller.abort();
      clean();
      const error = await it.next().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.equal(controller.signal.reason);
      expect((error as Error).name).to.equal('AbortError');
    });

    it('adds no listener when the signal is already aborted and rejects with its reason', async () => {
      const ee = new EventEmitter();
      const reason = new Error('stop');
      const signal = AbortSignal.abort(reason);
      const it = fromEvents(ee, 'v', { signal });
      expect(counts(ee, 'v', 'error')).to.deep.equal([0, 0]);
      expect(abortListeners(signal)).to.equal(0);
      const error = await it.next().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.equal(reason);
    });

    it('removes every listener on Symbol.asyncDispose (await using)', async () => {
      const { ee, it, clean } = setup();
      {
        await using events = it;
        ee.emit('v', 7);
        expect(await events.next()).to.deep.equal({ value: 7, done: false });
      }
      clean();
    });

    it('removes every listener on break in for await', async () => {
      const { ee, it, clean } = setup();
      ee.emit('v', 1);
      ee.emit('v', 2);
      for await (const value of it) {
        if (value === 1) break;
      }
      clean();
    });

    it('is idempotent: closing twice changes nothing', async () => {
      const { ee, it, clean } = setup();
      ee.emit('end');
      await it.return();
      await it.return();
      await it[Symbol.asyncDispose]();
      clean();
    });
  });

  describe('overflow', () => {
    it("'pause' calls pause() once at highWaterMark and resume() once at lowWaterMark", async () => {
      const ee = new EventEmitter();
      const marks: string[] = [];
      let paused = false;
      const it = fromEvents<number>(ee, 'v', {
        highWaterMark: 4,
        lowWaterMark: 1,
        pause: () => {
          marks.push(`pause@${it.bufferedLength}`);
          paused = true;
        },
        resume: () => {
          marks.push(`resume@${it.bufferedLength}`);
          paused = false;
        },
      });
      const total = 40;
      let sent = 0;
      const produce = (): void => {
        while (!paused && sent < total) ee.emit('v', sent++);
      };
      produce();
      expect(paused).to.equal(true);
      expect(it.bufferedLength).to.equal(4);
      const seen: number[] = [];
      let maxBuffered = 0;
      while (seen.length < total) {
        maxBuffered = Math.max(maxBuffered, it.bufferedLength);
        const step = await it.next();
        if (step.done === true) break;
        seen.push(step.value);
        produce();
      }
      expect(seen).to.deep.equal(Array.from({ length: total }, (_, i) => i));
      expect(maxBuffered).to.equal(4);
      const pauses = marks.filter((m) => m.startsWith('pause'));
      const resumes = marks.filter((m) => m.startsWith('resume'));
      expect(new Set(pauses)).to.deep.equal(new Set(['pause@4']));
      expect(new Set(resumes)).to.deep.equal(new Set(['resume@1']));
      // strictly alternating, starting with a pause
      marks.forEach((m, i) =>
        expect(m.startsWith(i % 2 === 0 ? 'pause' : 'resume')).to.equal(true),
      );
      expect(pauses.length).to.be.greaterThan(5);
      await it.return();
      expect(ee.listenerCount('v')).to.equal(0);
    });

    it("'pause' keeps events that still arrive after pause()", async () => {
      const ee = new EventEmitter();
      let pauses = 0;
      const it = fromEvents<number>(ee, 'v', {
        highWaterMark: 2,
        pause: () => pauses++,
        resume: () => undefined,
      });
      for (let i = 0; i < 5; i++) ee.emit('v', i);
      expect(pauses).to.equal(1);
      expect(it.isPaused).to.equal(true);
      expect(it.bufferedLength).to.equal(5);
      expect(await take(it, 5)).to.deep.equal([0, 1, 2, 3, 4]);
      expect(it.isPaused).to.equal(false);
      await it.return();
    });

    it("'pause' keeps the order when resume() emits synchronously", async () => {
      const ee = new EventEmitter();
      let sent = 0;
      let paused = false;
      const produce = (): void => {
        while (!paused && sent < 30) ee.emit('v', sent++);
      };
      const it = fromEvents<number>(ee, 'v', {
        highWaterMark: 3,
        lowWaterMark: 0,
        pause: () => (paused = true),
        resume: () => {
          paused = false;
          produce(); // re-enters the iterator from inside next()
        },
      });
      produce();
      expect(await take(it, 30)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i));
      await it.return();
      expect(ee.listenerCount('v')).to.equal(0);
    });

    it("'pause' uses a Readable's own pause()/resume() and receives every chunk", async () => {
      const items = Array.from({ length: 200 }, (_, i) => i);
      const stream = Readable.from(items, { highWaterMark: 4 });
      const it = fromEvents<number>(stream, 'data', {
        end: 'end',
        overflow: 'pause',
        highWaterMark: 8,
      });
      const seen: number[] = [];
      let sawPaused = false;
      let maxBuffered = 0;
      for await (const value of it) {
        seen.push(value);
        maxBuffered = Math.max(maxBuffered, it.bufferedLength);
        if (stream.isPaused()) sawPaused = true;
      }
      expect(seen).to.deep.equal(items);
      expect(sawPaused).to.equal(true);
      expect(maxBuffered).to.be.at.most(8 + 4);
      expect(counts(stream, 'data', 'end', 'error')).to.deep.equal([0, 0, 0]);
    });

    it("'drop-oldest' keeps the newest highWaterMark items", async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'v', { highWaterMark: 3, overflow: 'drop-oldest' });
      for (let i = 1; i <= 5; i++) ee.emit('v', i);
      expect(it.droppedCount).to.equal(2);
      expect(await take(it, 3)).to.deep.equal([3, 4, 5]);
      await it.return();
    });

    it("'drop-oldest' stays bounded under a burst of 100 000 events", async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'v', { highWaterMark: 100, overflow: 'drop-oldest' });
      let maxBuffered = 0;
      for (let i = 0; i < 100_000; i++) {
        ee.emit('v', i);
        if (it.bufferedLength > maxBuffered) maxBuffered = it.bufferedLength;
      }
      expect(maxBuffered).to.equal(100);
      expect(it.droppedCount).to.equal(99_900);
      expect(await take(it, 100)).to.deep.equal(Array.from({ length: 100 }, (_, i) => 99_900 + i));
      await it.return();
    });

    it("'drop-newest' keeps the oldest highWaterMark items", async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'v', { highWaterMark: 3, overflow: 'drop-newest' });
      for (let i = 1; i <= 5; i++) ee.emit('v', i);
      expect(it.droppedCount).to.equal(2);
      expect(await take(it, 3)).to.deep.equal([1, 2, 3]);
      ee.emit('v', 6);
      expect(await take(it, 1)).to.deep.equal([6]);
      await it.return();
    });

    it("'error' (the default without pause) fails with LimitOverrunError after the buffered items", async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'v', { highWaterMark: 3 });
      for (let i = 1; i <= 4; i++) ee.emit('v', i);
      expect(counts(ee, 'v', 'error')).to.deep.equal([0, 0]);
      expect(await take(it, 3)).to.deep.equal([1, 2, 3]);
      const error = await it.next().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(LimitOverrunError);
      expect((error as LimitOverrunError).consumed).to.equal(3);
      expect((error as Error).message).to.match(/^Cannot buffer the event: 3 events/);
    });

    it("'unbounded' buffers past highWaterMark", async () => {
      const ee = new EventEmitter();
      const it = fromEvents<number>(ee, 'v', { highWaterMark: 2, overflow: 'unbounded' });
      for (let i = 0; i < 10; i++) ee.emit('v', i);
      expect(it.bufferedLength).to.equal(10);
      expect(await take(it, 10)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await it.return();
    });

    it('fails the iteration after the buffered items when pause() throws', async () => {
      const ee = new EventEmitter();
      const broken = new Error('cannot pause');
      const it = fromEvents<number>(ee, 'v', {
        highWaterMark: 2,
        pause: () => {
          throw broken;
        },
        resume: () => undefined,
      });
      ee.emit('v', 1);
      ee.emit('v', 2);
      expect(counts(ee, 'v', 'error')).to.deep.equal([0, 0]);
      expect(await take(it, 2)).to.deep.equal([1, 2]);
      const error = await it.next().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.equal(broken);
    });
  });

  describe('over real connections', () => {
    it('iterates the chunks of a loopback TCP socket with pause/resume backpressure', async () => {
      const payload = Buffer.alloc(512 * 1024, 'abcdefgh');
      const server = net.createServer((socket) => socket.end(payload));
      const port = await listen(server);
      const client = net.connect(port, '127.0.0.1');
      try {
        const baseline = counts(client, 'data', 'end', 'error');
        const chunks = fromEvents<Buffer>(client, 'data', {
          end: 'end',
          overflow: 'pause',
          highWaterMark: 2,
        });
        const received: Buffer[] = [];
        let sawPaused = false;
        for await (const chunk of chunks) {
          received.push(chunk);
          if (chunks.isPaused) sawPaused = true;
          await new Promise((resolve) => setImmediate(resolve));
        }
        expect(Buffer.concat(received).equals(payload)).to.equal(true);
        expect(sawPaused).to.equal(true);
        expect(counts(client, 'data', 'end', 'error')).to.deep.equal(baseline);
      } finally {
        client.destroy();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('carries 1 MiB end to end over an in-memory duplex: toCallbacks in, fromEvents out', async () => {
      const [a, b] = duplexPair({ highWaterMark: 16 * 1024 });
      const chunk = Buffer.alloc(8 * 1024, 'q');
      const count = 128;
      let maxQueued = 0;
      async function* source(): AsyncGenerator<Buffer> {
        for (let i = 0; i < count; i++) {
          maxQueued = Math.max(maxQueued, a.writableLength);
          yield chunk;
        }
      }
      const chunks = fromEvents<Buffer>(b, 'data', {
        end: 'end',
        overflow: 'pause',
        highWaterMark: 2,
      });
      const sending = toCallbacks(source(), a);
      let bytes = 0;
      let sawPaused = false;
      for await (const data of chunks) {
        bytes += data.length;
        if (chunks.isPaused) sawPaused = true;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await sending;
      expect(bytes).to.equal(chunk.length * count);
      expect(sawPaused).to.equal(true);
      expect(maxQueued).to.be.at.most(16 * 1024);
      expect(a.listenerCount('drain')).to.equal(0);
      a.destroy();
      b.destroy();
    });

    it('fails with the socket error over an in-memory duplex reset by its peer', async () => {
      const [a, b] = duplexPair();
      const chunks = fromEvents<Buffer>(a, 'data', { end: 'end', overflow: 'pause' });
      b.write('hello');
      const first = await chunks.next();
      expect(String(first.value)).to.equal('hello');
      b.destroy();
      const error = await chunks.next().then(
        () => null,
        (e: unknown) => e,
      );
      expect((error as NodeJS.ErrnoException).code).to.equal('ECONNRESET');
      expect(counts(a, 'data', 'end', 'error')).to.deep.equal([0, 0, 0]);
      a.destroy();
    });
  });

  describe('argument validation', () => {
    it('rejects a non-emitter with a TypeError', () => {
      expect(() => fromEvents({} as unknown as EventEmitter, 'x')).to.throw(
        TypeError,
        'Expected `emitter` to be an EventEmitter or an EventTarget, got `[object Object]` (object)',
      );
    });

    it('rejects an options argument that is not an object with a TypeError, adding no listener', () => {
      const ee = new EventEmitter();
      for (const [options, shown] of [
        [1, '`1` (number)'],
        [null, '`null` (null)'],
        ['close', '`close` (string)'],
        [['close'], '`close` (array)'],
      ] as const) {
        expect(() => fromEvents(ee, 'x', options as unknown as { end?: string })).to.throw(
          TypeError,
          `Expected \`options\` to be an object or undefined, got ${shown}`,
        );
      }
      expect(ee.listenerCount('x')).to.equal(0);
      expect(ee.listenerCount('error')).to.equal(0);
      const iterator = fromEvents(ee, 'x', undefined); // undefined is the default
      expect(ee.listenerCount('x')).to.equal(1);
      void iterator.return();
      expect(ee.listenerCount('x')).to.equal(0);
    });

    it('rejects out-of-range water marks with a RangeError', () => {
      const ee = new EventEmitter();
      expect(() => fromEvents(ee, 'x', { highWaterMark: 0 })).to.throw(
        RangeError,
        'Expected `highWaterMark` to be a positive integer, got `0` (number)',
      );
      expect(() => fromEvents(ee, 'x', { highWaterMark: 4, lowWaterMark: 4 })).to.throw(
        RangeError,
        /lowWaterMark/,
      );
      expect(() => fromEvents(ee, 'x', { lowWaterMark: -1 })).to.throw(RangeError, /non-negative/);
      expect(ee.listenerCount('x')).to.equal(0);
    });

    it('rejects inconsistent flow-control options with a TypeError', () => {
      const ee = new EventEmitter();
      expect(() => fromEvents(ee, 'x', { pause: () => undefined })).to.throw(TypeError, /together/);
      expect(() => fromEvents(ee, 'x', { overflow: 'pause' })).to.throw(
        TypeError,
        "Cannot use overflow 'pause'",
      );
      expect(() => fromEvents(ee, 'x', { overflow: 'sometimes' as unknown as 'pause' })).to.throw(
        TypeError,
        /overflow/,
      );
      expect(() => fromEvents(ee, 'x', { end: 3 as unknown as string })).to.throw(TypeError, /end/);
      expect(() => fromEvents(new EventTarget(), 'x', { end: Symbol('end') })).to.throw(
        TypeError,
        /strings for an EventTarget/,
      );
      expect(ee.listenerCount('x')).to.equal(0);
    });
  });

  it('accepts typed eventemitter3 and node:events emitters', async () => {
    const typed = new EventEmitter3<{ line: [string]; close: [] }>();
    const lines = fromEvents<string>(typed, 'line', { end: 'close' });
    const typedNode = new EventEmitter<{ line: [string] }>();
    const nodeLines = fromEvents<string>(typedNode, 'line');
    typed.emit('line', 'a');
    typed.emit('close');
    typedNode.emit('line', 'b');
    expect(await take(lines, 2)).to.deep.equal(['a']);
    expect(await take(nodeLines, 1)).to.deep.equal(['b']);
    await nodeLines.return();
    expect([typed.listenerCount('line'), typedNode.listenerCount('line')]).to.deep.equal([0, 0]);
  });

  it('is typed: fromEvents<T> yields T', async () => {
    const ee = new EventEmitter();
    const it = fromEvents<number>(ee, 'n');
    ee.emit('n', 5);
    const step = await it.next();
    if (step.done !== true) {
      const n: number = step.value;
      // @ts-expect-error a number is not a string
      const s: string = step.value;
      expect([n, s]).to.deep.equal([5, 5]);
    }
    const pairs = fromEvents<[string, number]>(ee, 'p', { multiArgs: true });
    ee.emit('p', 'k', 1);
    const pair = await pairs.next();
    if (pair.done !== true) {
      const [k, v]: [string, number] = pair.value;
      expect([k, v]).to.deep.equal(['k', 1]);
    }
    await it.return();
    await pairs.return();
  });
});
