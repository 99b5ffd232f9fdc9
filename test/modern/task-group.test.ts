import { expect } from 'chai';
import { TaskGroup } from '../../src/modern/index.js';
import { tick, rejection } from '../helpers/async.js';

/** Work that runs until its signal aborts, then settles after a tick (as real cleanup would). */
function untilAborted(log: string[], name: string) {
  return (signal: AbortSignal): Promise<void> =>
    new Promise<void>((_resolve, reject) => {
      signal.addEventListener(
        'abort',
        () => {
          void tick().then(() => {
            log.push(`${name} stopped`);
            reject(signal.reason as Error);
          });
        },
        { once: true },
      );
    });
}

describe('TaskGroup', () => {
  it('wait() resolves when every task has finished and spawn returns each result', async () => {
    const group = new TaskGroup();
    const a = group.spawn(async () => {
      await tick();
      return 'a';
    });
    const b = group.spawn(() => Promise.resolve('b'));
    expect(group.size).to.equal(2);
    await group.wait();
    expect(await a).to.equal('a');
    expect(await b).to.equal('b');
    expect(group.size).to.equal(0);
  });

  it('the first failure aborts the siblings and wait() rejects with it after they settled', async () => {
    const log: string[] = [];
    const group = new TaskGroup();
    void group.spawn(untilAborted(log, 'one'));
    void group.spawn(untilAborted(log, 'two'));
    const boom = new Error('boom');
    const failing = group.spawn(async () => {
      await tick();
      throw boom;
    });
    expect(await rejection(group.wait())).to.equal(boom);
    expect(log.sort()).to.deep.equal(['one stopped', 'two stopped']);
    expect(group.signal.reason).to.equal(boom);
    expect(group.size).to.equal(0);
    expect(await rejection(failing)).to.equal(boom);
  });

  it('runs at most `concurrency` tasks at once and does not start queued tasks after a failure', async () => {
    const group = new TaskGroup({ concurrency: 2 });
    let active = 0;
    let maxActive = 0;
    for (let i = 0; i < 6; i++) {
      void group.spawn(async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await tick();
        active--;
      });
    }
    await group.wait();
    expect(maxActive).to.equal(2);

    const failing = new TaskGroup({ concurrency: 1 });
    let started = 0;
    void failing.spawn(() => Promise.reject(new Error('first')));
    for (let i = 0; i < 3; i++) {
      void failing.spawn(() => {
        started++;
        return Promise.resolve();
      });
    }
    expect(((await rejection(failing.wait())) as Error).message).to.equal('first');
    expect(started).to.equal(0);
  });

  it('refuses spawn after a failure or after wait() finished', async () => {
    const group = new TaskGroup();
    void group.spawn(() => Promise.reject(new Error('x')));
    await rejection(group.wait());
    expect(() => group.spawn(() => Promise.resolve())).to.throw(Error, 'Cannot spawn');
    const done = new TaskGroup();
    await done.wait();
    expect(() => done.spawn(() => Promise.resolve())).to.throw(
      Error,
      'Cannot spawn: the task group has finished',
    );
  });

  it('abort() cancels every task with the given reason', async () => {
    const log: string[] = [];
    const group = new TaskGroup();
    void group.spawn(untilAborted(log, 'task'));
    const reason = new Error('stop all');
    group.abort(reason);
    expect(await rejection(group.wait())).to.equal(reason);
    expect(log).to.deep.equal(['task stopped']);
  });

  it('Symbol.asyncDispose waits for the tasks', async () => {
    let done = false;
    {
      await using group = new TaskGroup();
      void group.spawn(async () => {
        await tick();
        done = true;
      });
    }
    expect(done).to.equal(true);
  });

  it('rejects a bad concurrency', () => {
    expect(() => new TaskGroup({ concurrency: 0 })).to.throw(RangeError);
  });
});
