import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { Queue, QueueEmpty, QueueFull } from '../../src/modern/index.js';
import { tick, rejection } from '../helpers/async.js';

describe('Queue', () => {
  it('delivers items in FIFO order and get() waits for a put', async () => {
    const queue = new Queue<number>();
    const first = queue.get();
    await queue.put(1);
    await queue.put(2);
    expect(await first).to.equal(1);
    expect(queue.size).to.equal(1);
    expect(await queue.get()).to.equal(2);
    expect(queue.empty()).to.equal(true);
  });

  it('put() waits while a bounded queue is full', async () => {
    const queue = new Queue<string>(1);
    await queue.put('a');
    expect(queue.full()).to.equal(true);
    let done = false;
    const pending = queue.put('b').then(() => (done = true));
    await tick();
    expect(done).to.equal(false);
    expect(queue.getNowait()).to.equal('a');
    await pending;
    expect(queue.getNowait()).to.equal('b');
  });

  it('putNowait/getNowait throw QueueFull/QueueEmpty', () => {
    const queue = new Queue<number>(1);
    expect(() => queue.getNowait()).to.throw(QueueEmpty, 'Cannot get: the queue is empty');
    queue.putNowait(1);
    expect(() => queue.putNowait(2)).to.throw(QueueFull, 'Cannot put: the queue is full');
  });

  it('join() resolves once every item is marked done', async () => {
    const queue = new Queue<number>();
    queue.putNowait(1);
    queue.putNowait(2);
    let joined = false;
    const join = queue.join().then(() => (joined = true));
    queue.getNowait();
    queue.taskDone();
    await tick();
    expect(joined).to.equal(false);
    queue.getNowait();
    queue.taskDone();
    await join;
    expect(() => queue.taskDone()).to.throw(Error, 'Cannot mark a task done');
  });

  it('get(), put() and join() are cancellable and leave no listener or waiter behind', async () => {
    const queue = new Queue<number>(1);
    const controller = new AbortController();
    const reason = new Error('cancel');
    const get = queue.get({ signal: controller.signal });
    controller.abort(reason);
    expect(await rejection(get)).to.equal(reason);
    expect(getEventListeners(controller.signal, 'abort').length).to.equal(0);
    // The cancelled getter did not take the next item.
    queue.putNowait(7);
    const putController = new AbortController();
    const put = queue.put(8, { signal: putController.signal });
    putController.abort(reason);
    expect(await rejection(put)).to.equal(reason);
    expect(queue.size).to.equal(1);
    expect(await queue.get()).to.equal(7);
    const joinController = new AbortController();
    const join = queue.join({ signal: joinController.signal });
    joinController.abort(reason);
    expect(await rejection(join)).to.equal(reason);
    expect(await rejection(queue.get({ signal: AbortSignal.abort(reason) }))).to.equal(reason);
  });

  it('rejects a bad maxSize: negative or NaN (RangeError), not a number (TypeError)', () => {
    expect(() => new Queue(-1)).to.throw(
      RangeError,
      'Expected `maxSize` to be a non-negative number, got `-1` (number)',
    );
    expect(() => new Queue(Number.NaN)).to.throw(RangeError);
    expect(() => new Queue('2' as unknown as number)).to.throw(
      TypeError,
      'Expected `maxSize` to be a non-negative number, got `2` (string)',
    );
  });

  it('takes a fractional maxSize as asyncio does: Queue(1.3) is full at 2 items', async () => {
    const queue = new Queue<number>(1.3);
    expect(queue.maxSize).to.equal(1.3);
    queue.putNowait(1);
    expect(queue.full()).to.equal(false);
    queue.putNowait(2);
    expect(queue.full()).to.equal(true);
    expect(() => queue.putNowait(3)).to.throw(QueueFull);
    const put = queue.put(3);
    expect(queue.getNowait()).to.equal(1);
    await put; // room again: 1 item < 1.3
    expect([queue.getNowait(), queue.getNowait()]).to.deep.equal([2, 3]);
  });

  it('is unbounded with maxSize 0 or Infinity', () => {
    for (const maxSize of [0, Infinity]) {
      const queue = new Queue<number>(maxSize);
      for (let i = 0; i < 1000; i++) queue.putNowait(i);
      expect(queue.full()).to.equal(false);
      expect(queue.size).to.equal(1000);
    }
  });

  it('keeps FIFO order while its storage compacts, over thousands of items', () => {
    const queue = new Queue<number>();
    for (let i = 0; i < 3000; i++) queue.putNowait(i);
    const taken: number[] = [];
    for (let i = 0; i < 1500; i++) taken.push(queue.getNowait());
    for (let i = 3000; i < 4000; i++) queue.putNowait(i);
    expect(queue.size).to.equal(2500);
    while (!queue.empty()) taken.push(queue.getNowait());
    expect(taken).to.deep.equal(Array.from({ length: 4000 }, (_, i) => i));
  });
});
