import { expect } from 'chai';
import {
  BLOCK_SIZE,
  Collection,
  SMALL_PIECE,
  collectionStats,
} from '../../src/legacy/_collection.js';

/** Bytes kept alive by `pieces`: the sizes of their distinct backing ArrayBuffers. */
function retainedBytes(pieces: readonly Buffer[]): number {
  const buffers = new Set<ArrayBufferLike>(pieces.map((piece) => piece.buffer));
  let sum = 0;
  for (const buffer of buffers) sum += buffer.byteLength;
  return sum;
}

/** A 1-byte Buffer with an ArrayBuffer of its own, as a socket delivers a 1-byte segment. */
function segment(byte: number): Buffer {
  return Buffer.from(new ArrayBuffer(1)).fill(byte);
}

describe('Collection (internal: the bytes of one AsyncChat message)', () => {
  it('keeps every byte in order through a mix of tiny, small and large pieces', () => {
    const collection = new Collection();
    const model: Buffer[] = [];
    let byte = 0;
    // A deterministic mix: 1-byte segments, small reads, large reads, views of larger chunks.
    for (let i = 0; i < 400; i++) {
      const size = [1, 1, 1, 7, 300, 5000, 20_000, 1][(i * 7919) % 8]!;
      const backing = Buffer.alloc(size * ((i % 3) + 1));
      for (let j = 0; j < backing.length; j++) backing[j] = byte++ % 251;
      const piece = backing.subarray(0, size);
      collection.append(piece);
      model.push(Buffer.from(piece));
    }
    const total = model.reduce((sum, piece) => sum + piece.length, 0);
    expect(collection.length).to.equal(total);
    const pieces = collection.take();
    expect(Buffer.concat(pieces).equals(Buffer.concat(model))).to.equal(true);
    expect(collection.length).to.equal(0);
    expect(collection.take()).to.deep.equal([]);
  });

  it('100,000 one-byte segments come out as a few pieces keeping alive at most twice their bytes', () => {
    const collection = new Collection();
    const count = 100_000;
    for (let i = 0; i < count; i++) collection.append(segment(i % 256));
    expect(collection.length).to.equal(count);
    // One Buffer per segment (asynchat's list) would be 100,000 pieces of ~200 bytes each.
    expect(collection.pieceCount).to.equal(Math.ceil(count / BLOCK_SIZE));
    const pieces = collection.take();
    expect(pieces).to.have.length(Math.ceil(count / BLOCK_SIZE));
    for (const piece of pieces.slice(0, -1)) expect(piece.length).to.equal(BLOCK_SIZE);
    expect(retainedBytes(pieces)).to.be.at.most(2 * count + 256);
    const joined = Buffer.concat(pieces);
    for (let i = 0; i < count; i += 9973) expect(joined[i]).to.equal(i % 256);
  });

  it('copies each appended byte O(1) times (geometric growth, no concat per append)', () => {
    const collection = new Collection();
    const before = collectionStats.bytesCopied;
    const count = 200_000;
    for (let i = 0; i < count; i++) collection.append(segment(120));
    collection.take();
    const copied = collectionStats.bytesCopied - before;
    // Each byte once into its block, plus at most once more per doubling of that block: < 2x.
    // A Buffer.concat() per append would copy ~count^2 / 2 bytes.
    expect(copied).to.be.at.least(count);
    expect(copied).to.be.below(2 * count);
  });

  it('keeps a large piece that uses its allocation as it is, uncopied', () => {
    const collection = new Collection();
    const large = Buffer.alloc(SMALL_PIECE * 2, 1);
    collection.append(Buffer.from('ab'));
    collection.append(large);
    collection.append(Buffer.from('cd'));
    const pieces = collection.take();
    expect(pieces).to.have.length(3);
    expect(pieces[1]).to.equal(large);
    expect(pieces[0]!.toString()).to.equal('ab');
    expect(pieces[2]!.toString()).to.equal('cd');
  });

  it('copies a small view, or a large view of a much larger chunk, so it does not pin the chunk', () => {
    const collection = new Collection();
    const chunk = Buffer.alloc(64 * 1024, 2);
    collection.append(chunk.subarray(100, 110));
    collection.append(chunk.subarray(0, SMALL_PIECE));
    const pieces = collection.take();
    for (const piece of pieces) expect(piece.buffer).to.not.equal(chunk.buffer);
    expect(Buffer.concat(pieces).length).to.equal(10 + SMALL_PIECE);
    expect(retainedBytes(pieces)).to.be.at.most(2 * (10 + SMALL_PIECE));
  });

  it('takeSealed() hands over the full blocks and keeps the one being filled', () => {
    const collection = new Collection();
    for (let i = 0; i < BLOCK_SIZE + 10; i++) collection.append(segment(i % 256));
    const sealed = collection.takeSealed();
    expect(sealed.map((piece) => piece.length)).to.deep.equal([BLOCK_SIZE]);
    expect(collection.length).to.equal(10);
    expect(collection.takeSealed()).to.deep.equal([]);
    const rest = collection.take();
    expect(rest.map((piece) => piece.length)).to.deep.equal([10]);
    expect(rest[0]![0]).to.equal(BLOCK_SIZE % 256);
  });

  it('clear() drops everything; empty appends are ignored', () => {
    const collection = new Collection();
    collection.append(Buffer.alloc(0));
    expect(collection.pieceCount).to.equal(0);
    collection.append(Buffer.from('abc'));
    collection.clear();
    expect(collection.length).to.equal(0);
    expect(collection.take()).to.deep.equal([]);
  });
});
