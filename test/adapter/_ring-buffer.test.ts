import { expect } from 'chai';
import { RingBuffer } from '../../src/adapter/_ring-buffer.js';

describe('RingBuffer', () => {
  it('is FIFO across wrap-around and growth', () => {
    const ring = new RingBuffer<number>(4);
    const expected: number[] = [];
    let next = 0;
    // interleave pushes and shifts so the head wraps many times while the buffer grows
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < (round % 5) + 1; i++) {
        ring.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < round % 3; i++) {
        expect(ring.shift()).to.equal(expected.shift());
      }
      expect(ring.length).to.equal(expected.length);
      expect(ring.peek()).to.equal(expected[0]);
    }
    while (ring.length > 0) expect(ring.shift()).to.equal(expected.shift());
    expect(expected).to.have.length(0);
  });

  it('returns undefined from shift() and peek() when empty', () => {
    const ring = new RingBuffer<string>();
    expect(ring.shift()).to.equal(undefined);
    expect(ring.peek()).to.equal(undefined);
    expect(ring.length).to.equal(0);
  });

  it('grows by segments of doubling size and clear() returns to the initial capacity', () => {
    const ring = new RingBuffer<number>(5);
    expect(ring.capacity).to.equal(8);
    for (let i = 0; i < 9; i++) ring.push(i);
    expect(ring.capacity).to.equal(8 + 16);
    ring.clear();
    expect(ring.length).to.equal(0);
    expect(ring.capacity).to.equal(8);
    ring.push(42);
    expect(ring.shift()).to.equal(42);
  });

  it('drops drained segments: after a burst, one segment and one spare remain', () => {
    const ring = new RingBuffer<number>();
    for (let i = 0; i < 100_000; i++) ring.push(i);
    expect(ring.capacity).to.be.at.least(100_000);
    for (let i = 0; i < 60_000; i++) ring.shift();
    // Only the segments that still hold items are kept.
    expect(ring.capacity).to.be.below(40_000 + 3 * 2048);
    while (ring.length > 0) ring.shift();
    expect(ring.capacity).to.be.at.most(2 * 2048);
    ring.push(7);
    expect(ring.peek()).to.equal(7);
  });

  it('reuses its spare segment in a steady state instead of allocating', () => {
    const ring = new RingBuffer<number>(4);
    // Fill past the small first segments, then hover: push one, shift one.
    for (let i = 0; i < 5000; i++) ring.push(i);
    for (let i = 0; i < 4000; i++) ring.shift();
    let next = 5000;
    const hover = (times: number): void => {
      for (let i = 0; i < times; i++) {
        ring.push(next++);
        expect(ring.shift()).to.equal(next - 1001);
      }
    };
    hover(5000); // the small early segments drain away
    const held = ring.capacity;
    expect(held).to.equal(2 * 2048);
    hover(50_000);
    expect(ring.capacity).to.equal(held);
    expect(ring.length).to.equal(1000);
  });

  it('peeks and shifts across a segment boundary', () => {
    const ring = new RingBuffer<number>(4);
    for (let i = 0; i < 5; i++) ring.push(i);
    for (let i = 0; i < 4; i++) expect(ring.shift()).to.equal(i);
    // The first segment is drained; the head item sits in the second.
    expect(ring.peek()).to.equal(4);
    ring.push(5);
    expect(ring.shift()).to.equal(4);
    expect(ring.shift()).to.equal(5);
    expect(ring.length).to.equal(0);
  });

  it('keeps 200 000 items in order (no Array.shift collapse)', () => {
    const ring = new RingBuffer<number>();
    for (let i = 0; i < 200_000; i++) ring.push(i);
    let ok = true;
    for (let i = 0; i < 200_000; i++) if (ring.shift() !== i) ok = false;
    expect(ok).to.equal(true);
    expect(ring.length).to.equal(0);
  });
});
