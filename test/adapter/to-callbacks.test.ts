/* eslint-disable @typescript-eslint/require-await -- async generators stand in for async sources */
import { expect } from 'chai';
import { EventEmitter, getEventListeners } from 'node:events';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fromEvents, toCallbacks } from '../../src/adapter/index.js';
import { ConnectionClosedError } from '../../src/modern/errors.js';

/** Listener counts of the events a test uses, on a node:events or eventemitter3 emitter. */
function counts(emitter: { listenerCount(event: string): number }, ...events: string[]): number[] {
  return events.map((event) => emitter.listenerCount(event));
}

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

describe('toCallbacks()', () => {
  async function* numbers(n: number, log?: string[]): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) yield i;
    } finally {
      log?.push('source finally');
    }
  }

  it('writes every item in order, then calls end() once', async () => {
    const log: string[] = [];
    await toCallbacks(numbers(5, log), {
      write: (n) => void log.push(`write ${n}`),
      end: () => void log.push('end'),
      error: () => void log.push('error'),
    });
    expect(log).to.deep.equal([
      'write 0',
      'write 1',
      'write 2',
      'write 3',
      'write 4',
      'source finally',
      'end',
    ]);
  });

  it('accepts a synchronous iterable', async () => {
    const seen: string[] = [];
    await toCallbacks(['a', 'b'], { write: (s) => void seen.push(s) });
    expect(seen).to.deep.equal(['a', 'b']);
  });

  it("waits for 'drain' from a slow Writable, keeping order and completeness", async () => {
    const received: number[] = [];
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 2,
      write(chunk: number, _encoding, callback) {
        received.push(chunk);
        setImmediate(callback);
      },
    });
    const baseline = counts(sink, 'drain', 'error', 'close');
    let drains = 0;
    sink.on('drain', () => drains++);
    let maxQueued = 0;
    async function* tracked(): AsyncGenerator<number> {
      for (let i = 0; i < 100; i++) {
        maxQueued = Math.max(maxQueued, sink.writableLength);
        yield i;
      }
    }
    await toCallbacks(tracked(), sink);
    expect(counts(sink, 'drain', 'error', 'close')).to.deep.equal([
      baseline[0]! + 1,
      baseline[1],
      baseline[2],
    ]);
    await finished(sink);
    expect(received).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    expect(drains).to.be.greaterThan(10);
    expect(maxQueued).to.be.at.most(2);
  });

  it('drives a file write stream directly', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dispatch-bridge-'));
    const file = path.join(dir, 'out.txt');
    try {
      const sink = createWriteStream(file, { highWaterMark: 64 });
      async function* lines(): AsyncGenerator<string> {
        for (let i = 0; i < 2000; i++) yield `line ${i}\n`;
      }
      await toCallbacks(lines(), sink);
      await finished(sink);
      const expected = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join('');
      expect(await fsp.readFile(file, 'utf8')).to.equal(expected);
      // and back: a read stream's chunks through fromEvents
      const chunks = fromEvents<Buffer>(createReadStream(file), 'data', {
        end: 'end',
        overflow: 'pause',
      });
      let text = '';
      for await (const chunk of chunks) text += chunk.toString();
      expect(text).to.equal(expected);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('drives a loopback TCP socket with backpressure', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'z');
    const count = 64;
    let receivedBytes = 0;
    const server = net.createServer();
    const done = new Promise<void>((resolve) => {
      server.on('connection', (socket) => {
        socket.on('data', (data: Buffer) => (receivedBytes += data.length));
        socket.on('end', () => {
          socket.end();
          resolve();
        });
      });
    });
    const port = await listen(server);
    const client = net.connect(port, '127.0.0.1');
    try {
      await new Promise((resolve) => client.once('connect', resolve));
      let falseWrites = 0;
      const sink = {
        write: (data: Buffer) => {
          const ok = client.write(data);
          if (!ok) falseWrites++;
          return ok;
        },
        end: () => client.end(),
        on: client.on.bind(client),
        off: client.off.bind(client),
      };
      async function* source(): AsyncGenerator<Buffer> {
        for (let i = 0; i < count; i++) yield chunk;
      }
      await toCallbacks(source(), sink);
      await done;
      expect(receivedBytes).to.equal(chunk.length * count);
      expect(falseWrites).to.be.greaterThan(0);
      expect(counts(client, 'drain')).to.deep.equal([0]);
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('uses options.drain when write() returns false', async () => {
    let drains = 0;
    const seen: number[] = [];
    await toCallbacks(
      numbers(6),
      { write: (n) => (seen.push(n), n % 2 === 0) },
      { drain: () => (drains++, Promise.resolve()) },
    );
    expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(drains).to.equal(3);
  });

  it('calls error() once and rejects when the source throws, without end()', async () => {
    const log: string[] = [];
    const boom = new Error('source failed');
    async function* failing(): AsyncGenerator<number> {
      yield 1;
      throw boom;
    }
    const error = await toCallbacks(failing(), {
      write: (n) => void log.push(`write ${n}`),
      end: () => void log.push('end'),
      error: (e) => void log.push(`error ${(e as Error).message}`),
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(boom);
    expect(log).to.deep.equal(['write 1', 'error source failed']);
  });

  it('stops the source with return() and rejects when write() throws', async () => {
    const log: string[] = [];
    const broken = new Error('sink failed');
    const error = await toCallbacks(numbers(10, log), {
      write: (n) => {
        if (n === 2) throw broken;
        log.push(`write ${n}`);
      },
      end: () => void log.push('end'),
      error: () => void log.push('error'),
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(broken);
    expect(log).to.deep.equal(['write 0', 'write 1', 'source finally']);
  });

  it('stops a fromEvents source and removes its listeners when the sink fails', async () => {
    const ee = new EventEmitter();
    const source = fromEvents<number>(ee, 'v');
    ee.emit('v', 1);
    const broken = new Error('sink failed');
    const error = await toCallbacks(source, {
      write: () => {
        throw broken;
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(broken);
    expect(counts(ee, 'v', 'error')).to.deep.equal([0, 0]);
  });

  it('reports the sink error even when the source return() fails too', async () => {
    const broken = new Error('sink failed');
    const source: AsyncIterableIterator<number> = {
      next: () => Promise.resolve({ value: 1, done: false }),
      return: () => Promise.reject(new Error('return failed')),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    const error = await toCallbacks(source, {
      write: () => {
        throw broken;
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(broken);
  });

  it('rejects when end() throws', async () => {
    const broken = new Error('end failed');
    const error = await toCallbacks(numbers(1), {
      write: () => true,
      end: () => {
        throw broken;
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(broken);
  });

  it('rejects with signal.reason and stops the source when aborted while waiting for an item', async () => {
    const ee = new EventEmitter();
    const source = fromEvents<number>(ee, 'v');
    const controller = new AbortController();
    const seen: number[] = [];
    const transfer = toCallbacks(
      source,
      { write: (n) => void seen.push(n) },
      {
        signal: controller.signal,
      },
    );
    ee.emit('v', 1);
    await new Promise((resolve) => setImmediate(resolve));
    const reason = new Error('stop');
    controller.abort(reason);
    const error = await transfer.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(reason);
    expect(seen).to.deep.equal([1]);
    expect(counts(ee, 'v', 'error')).to.deep.equal([0, 0]);
    expect(abortListeners(controller.signal)).to.equal(0);
  });

  it('does not wait for a source stuck in next() when aborted, and still returns it', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* stuck(): AsyncGenerator<number> {
      try {
        yield 1;
        await gate;
        yield 2;
      } finally {
        log.push('source finally');
      }
    }
    const controller = new AbortController();
    const seen: number[] = [];
    const transfer = toCallbacks(
      stuck(),
      { write: (n) => void seen.push(n) },
      {
        signal: controller.signal,
      },
    );
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    const error = await transfer.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(controller.signal.reason);
    expect(seen).to.deep.equal([1]);
    expect(log).to.deep.equal([]);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).to.deep.equal(['source finally']);
  });

  it('rejects with signal.reason and stops the source when aborted while waiting for drain', async () => {
    const log: string[] = [];
    const sink = new EventEmitter() as EventEmitter & { write(n: number): boolean };
    sink.write = (n) => (log.push(`write ${n}`), false);
    const controller = new AbortController();
    const transfer = toCallbacks(numbers(5, log), sink, { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.listenerCount('drain')).to.equal(1);
    controller.abort();
    const error = await transfer.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(controller.signal.reason);
    expect(log).to.deep.equal(['write 0', 'source finally']);
    expect(counts(sink, 'drain', 'error', 'close')).to.deep.equal([0, 0, 0]);
    expect(abortListeners(controller.signal)).to.equal(0);
  });

  it('rejects at once with signal.reason when the signal is already aborted', async () => {
    const log: string[] = [];
    const source = numbers(3, log);
    await source.next(); // started, so return() runs its finally
    const reason = new Error('already');
    const error = await toCallbacks(
      source,
      { write: () => true },
      {
        signal: AbortSignal.abort(reason),
      },
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(reason);
    expect(log).to.deep.equal(['source finally']);
  });

  it('rejects with the sink error when the Writable fails while waiting for drain', async () => {
    const log: string[] = [];
    const broken = new Error('disk full');
    const sink = new Writable({
      highWaterMark: 1,
      write(_chunk, _encoding, callback) {
        setImmediate(() => callback(broken));
      },
    });
    const error = await toCallbacks(
      (async function* () {
        try {
          for (;;) yield 'x';
        } finally {
          log.push('source finally');
        }
      })(),
      sink,
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.equal(broken);
    expect(log).to.deep.equal(['source finally']);
    expect(sink.listenerCount('drain')).to.equal(0);
  });

  it('rejects with ConnectionClosedError when the sink closes before it drains', async () => {
    const sink = new EventEmitter() as EventEmitter & { write(n: number): boolean };
    sink.write = () => false;
    const transfer = toCallbacks(numbers(3), sink);
    await new Promise((resolve) => setImmediate(resolve));
    sink.emit('close');
    const error = await transfer.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConnectionClosedError);
    expect(counts(sink, 'drain', 'error', 'close')).to.deep.equal([0, 0, 0]);
  });

  it('rejects with a TypeError when write() returns false and drain cannot be awaited', async () => {
    const log: string[] = [];
    const error = await toCallbacks(numbers(3, log), { write: () => false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(TypeError);
    expect((error as Error).message).to.match(/^Cannot wait for drain/);
    expect(log).to.deep.equal(['source finally']);
  });

  it('rejects bad arguments with a TypeError', async () => {
    const notIterable = toCallbacks(42 as unknown as number[], { write: () => true });
    const error = await notIterable.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(TypeError);
    const noWrite = await toCallbacks([1], {} as unknown as { write(n: number): void }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(noWrite).to.be.instanceOf(TypeError);
  });
});
