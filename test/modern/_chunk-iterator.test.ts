import { expect } from 'chai';
import { ChunkIterator } from '../../src/modern/_chunk-iterator.js';
import { EMPTY, type ReadOptions } from '../../src/modern/_read-options.js';

/** A fake reader: buffered chunks, or the iterator parked until push(). */
class FakeReader {
  readonly buffered: Buffer[] = [];
  parked: ((chunk: Buffer) => void) | null = null;
  options: ReadOptions | undefined = undefined;
  push(chunk: Buffer): void {
    const parked = this.parked;
    this.parked = null;
    if (parked === null) this.buffered.push(chunk);
    else parked(chunk);
  }
}

function iterate(reader: FakeReader, options?: ReadOptions): ChunkIterator<FakeReader> {
  return new ChunkIterator(reader, options, (source, given, iterator) => {
    source.options = given;
    const chunk = source.buffered.shift();
    if (chunk !== undefined) return chunk;
    source.parked = iterator.resolver();
    return undefined;
  });
}

describe('ChunkIterator', () => {
  it('yields chunks buffered and chunks that come while it waits, until the empty Buffer', async () => {
    const reader = new FakeReader();
    const signal = new AbortController().signal;
    const chunks = iterate(reader, { signal });
    reader.push(Buffer.from('a'));
    expect((await chunks.next()).value?.toString()).to.equal('a');
    const waiting = chunks.next();
    reader.push(Buffer.from('b'));
    expect((await waiting).value?.toString()).to.equal('b');
    reader.push(EMPTY);
    expect(await chunks.next()).to.deep.equal({ done: true, value: undefined });
    // Each pull is given the options of chunks(), and the same settle callback every time.
    expect(reader.options?.signal).to.equal(signal);
    expect(chunks.resolver()).to.equal(chunks.resolver());
    expect(chunks[Symbol.asyncIterator]()).to.equal(chunks);
  });
});
