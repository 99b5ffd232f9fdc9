// Every error the library throws or rejects with carries a stable `code` (README: Errors): the
// misuse classes by behaviour, in every layer, and a scan of src/ for bare built-in errors.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromEvents, startMixedServer } from '../src/adapter/index.js';
import { InvalidArgumentError, InvalidStateError, OutOfRangeError } from '../src/errors.js';
import { Dispatcher, loop, SocketMap } from '../src/legacy/index.js';
import { Queue, startServer, StreamReader, type StreamHandler } from '../src/modern/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs `action` (sync or async) and returns what it threw or rejected with. */
async function failure(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to fail');
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown }).code;
}

const handler: StreamHandler = async () => {};

describe('errors: stable codes on misuse', () => {
  it('a wrong type is an InvalidArgumentError, still a TypeError by name and class', async () => {
    const cases: [string, () => unknown][] = [
      ['Dispatcher({ socket: 42 })', () => new Dispatcher({ socket: 42 as never })],
      ['bind({ host: 123 })', () => new Dispatcher().bind({ host: 123 as never, port: 0 })],
      ['loop({ map: {} })', () => loop({ map: {} as never })],
      ['readLine({ signal: 1 })', () => new StreamReader().readLine({ signal: 1 as never })],
      ['startServer(tls: true)', () => startServer(handler, { tls: true as never })],
      ['fromEvents(null)', () => fromEvents(null as never, 'x')],
      ['startMixedServer({})', () => startMixedServer({} as never)],
    ];
    for (const [name, action] of cases) {
      const error = await failure(action);
      expect(error, name).to.be.instanceOf(InvalidArgumentError);
      expect(error, name).to.be.instanceOf(TypeError);
      expect((error as Error).name, name).to.equal('TypeError');
      expect(codeOf(error), name).to.equal('ERR_DB_INVALID_ARG');
    }
  });

  it('a number out of range is an OutOfRangeError, still a RangeError', async () => {
    const cases: [string, () => unknown][] = [
      ['loop({ timeout: -1 })', () => loop({ map: new SocketMap(), timeout: -1 })],
      ['readExactly(-1)', () => new StreamReader().readExactly(-1)],
      ['startServer(backlog: NaN)', () => startServer(handler, { backlog: Number.NaN })],
      ['startServer(idleTimeout: 2 ** 31)', () => startServer(handler, { idleTimeout: 2 ** 31 })],
      ['listen(0)', () => new Dispatcher().listen(0)],
      ['StreamReader({ limit: 0 })', () => new StreamReader({ limit: 0 })],
    ];
    for (const [name, action] of cases) {
      const error = await failure(action);
      expect(error, name).to.be.instanceOf(OutOfRangeError);
      expect(error, name).to.be.instanceOf(RangeError);
      expect(codeOf(error), name).to.equal('ERR_DB_OUT_OF_RANGE');
    }
  });

  it('a call the state does not allow is an InvalidStateError', async () => {
    const reader = new StreamReader();
    const first = reader.readLine();
    const cases: [string, () => unknown][] = [
      ['listen() before bind()', () => new Dispatcher().listen()],
      ['a second read while one waits', () => reader.readLine()],
      [
        'feedData() after feedEof()',
        () => {
          const ended = new StreamReader();
          ended.feedEof();
          ended.feedData(Buffer.from('x'));
        },
      ],
      ['taskDone() with nothing unfinished', () => new Queue().taskDone()],
      ['send() without a transport', () => new Dispatcher().send('x')],
    ];
    for (const [name, action] of cases) {
      const error = await failure(action);
      expect(error, name).to.be.instanceOf(InvalidStateError);
      expect(codeOf(error), name).to.equal('ERR_DB_INVALID_STATE');
    }
    reader.feedEof();
    await first;
  });

  it('a second loop() on one map is an InvalidStateError, and the first goes on', async () => {
    const map = new SocketMap();
    const keep = new Dispatcher({ map });
    keep.bind({ host: '127.0.0.1', port: 0 });
    const running = loop({ map, timeout: 10 });
    try {
      const error = await failure(() => loop({ map }));
      expect(codeOf(error)).to.equal('ERR_DB_INVALID_STATE');
      expect(map.looping).to.equal(true);
    } finally {
      keep.close();
      await running;
    }
  });
});

describe('errors: no bare built-in error in src/', () => {
  // The places that build an Error on purpose without one of our codes: a disconnect carrying
  // the errno code the legacy layer expects, and a wrapper around a non-Error a user threw.
  const allowed = [
    "Object.assign(new Error(error.message), { code: 'EPIPE' })",
    'error instanceof Error ? error : new Error(String(error))',
    'new Error(`${syscall} ECONNRESET`)',
  ];

  function sources(directory: string): string[] {
    return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) return sources(path);
      return entry.name.endsWith('.ts') ? [path] : [];
    });
  }

  it('throws only errors with a code (InvalidArgumentError, OutOfRangeError, …)', () => {
    const bare: string[] = [];
    for (const file of sources(join(root, 'src'))) {
      if (file.endsWith(join('src', 'errors.ts'))) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (!/new (Error|TypeError|RangeError)\(/.test(line)) return;
          if (allowed.some((snippet) => line.includes(snippet))) return;
          bare.push(`${relative(root, file)}:${index + 1}: ${line.trim()}`);
        });
    }
    expect(bare, 'bare built-in errors').to.deep.equal([]);
  });
});
