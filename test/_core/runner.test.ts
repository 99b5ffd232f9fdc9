import { expect } from 'chai';
import { ConnectionClosedError, TimeoutError } from '../../src/errors.js';
import { HandlerRunner, isOwnDisconnect, type HandlerRun } from '../../src/_core/runner.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { tick } from '../helpers/async.js';

function run(start: () => Promise<void> | void, overrides: Partial<HandlerRun> = {}) {
  const [socket] = duplexPair();
  const log: string[] = [];
  const controller = new AbortController();
  const handlerRun: HandlerRun = {
    start,
    close: () => log.push('close'),
    report: (error) => log.push(`report ${(error as Error).message}`),
    controller,
    socket,
    fail: () => log.push('fail'),
    ...overrides,
  };
  return { handlerRun, log, controller };
}

describe('HandlerRunner (the one runner of stream handlers)', () => {
  it('closes after the handler and reports its error once', async () => {
    const runner = new HandlerRunner({});
    const ok = run(() => undefined);
    await runner.run(ok.handlerRun);
    expect(ok.log).to.deep.equal(['close']);
    const failing = run(() => {
      throw new Error('boom');
    });
    await runner.run(failing.handlerRun);
    expect(failing.log).to.deep.equal(['report boom', 'close']);
    const legacyHost = run(
      () => {
        throw new Error('boom');
      },
      { closeAfterError: false },
    );
    await runner.run(legacyHost.handlerRun);
    expect(legacyHost.log).to.deep.equal(['report boom']);
  });

  it('its own connection going away is not an error', () => {
    const controller = new AbortController();
    expect(isOwnDisconnect(new ConnectionClosedError(), controller.signal)).to.equal(false);
    controller.abort(new ConnectionClosedError('Connection closed'));
    expect(isOwnDisconnect(new ConnectionClosedError('drain'), controller.signal)).to.equal(true);
    expect(isOwnDisconnect(new Error('other'), controller.signal)).to.equal(false);
    const timedOut = new AbortController();
    const reason = new TimeoutError(5);
    timedOut.abort(reason);
    expect(isOwnDisconnect(reason, timedOut.signal)).to.equal(true);
    expect(isOwnDisconnect(new ConnectionClosedError(), timedOut.signal)).to.equal(false);
    // A reset: the read rejects on the socket's 'error', before 'close' aborts the signal.
    const live = new AbortController();
    expect(isOwnDisconnect(new ConnectionClosedError(), live.signal, { destroyed: true })).to.equal(
      true,
    );
    expect(
      isOwnDisconnect(new ConnectionClosedError(), live.signal, { destroyed: false }),
    ).to.equal(false);
    expect(isOwnDisconnect(new Error('other'), live.signal, { destroyed: true })).to.equal(false);
  });

  it('concurrency: a hung handler keeps its slot only while its connection is there', async () => {
    const runner = new HandlerRunner({ concurrency: 1 });
    const hung = run(() => new Promise<void>(() => undefined));
    void runner.run(hung.handlerRun);
    let started = false;
    const next = run(() => {
      started = true;
    });
    const done = runner.run(next.handlerRun);
    await tick();
    expect([started, runner.running, runner.waiting]).to.deep.equal([false, 1, 1]);
    hung.controller.abort(new ConnectionClosedError('Connection closed'));
    await done;
    expect(started).to.equal(true);
  });

  it('a connection cut off while it waits for a slot never starts its handler', async () => {
    const runner = new HandlerRunner({ concurrency: 1 });
    const first = run(() => new Promise<void>((resolve) => setTimeout(resolve, 20)));
    const firstDone = runner.run(first.handlerRun);
    let started = false;
    const second = run(() => {
      started = true;
    });
    const secondDone = runner.run(second.handlerRun);
    second.controller.abort(new ConnectionClosedError('Connection closed'));
    await Promise.all([firstDone, secondDone]);
    expect(started).to.equal(false);
    expect(second.log).to.deep.equal(['close']);
  });
});
