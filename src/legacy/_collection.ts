// The bytes of one AsyncChat message on their way to collectIncomingData() (internal).
//
// A peer that sends one byte per TCP segment makes every read a 1-byte Buffer, and a Buffer costs
// a hundred bytes and more besides its contents: kept one per read (as asynchat's list, or the
// `#parts.push(data)` of the README's LineEcho), 60,000 bytes cost megabytes. Here small pieces
// are copied into a block that grows geometrically (each byte is copied O(1) times), and pieces
// that are large and do not pin a much larger allocation are kept as they are. So what a message
// holds, here and in the pieces handed on, costs memory in proportion to its bytes, however the
// peer cut it into segments.

/** Pieces shorter than this are copied into a block; longer ones may be kept as they are. */
export const SMALL_PIECE = 4096;
/** The largest block small pieces are copied into; a full one is sealed and a new one begun. */
export const BLOCK_SIZE = 16384;
/** The first capacity of a block: a short message costs little. */
const FIRST_BLOCK = 256;

/** Counters for the specs: bytes copied into blocks (linear work means O(bytes appended)). */
export const collectionStats = { bytesCopied: 0 };

function capacityFor(bytes: number): number {
  let capacity = FIRST_BLOCK;
  while (capacity < bytes && capacity < BLOCK_SIZE) capacity *= 2;
  return capacity;
}

/**
 * An ordered collection of bytes, taken out as a few pieces: every piece but the last of a
 * `take()` holds at least {@link SMALL_PIECE} bytes (usually {@link BLOCK_SIZE}), and no piece
 * keeps alive more than twice its own length (or a first block of 256 bytes).
 */
export class Collection {
  // Sealed pieces, in order, before the block.
  #pieces: Buffer[] = [];
  // The block being filled (its first #blockLength bytes are data), or null.
  #block: Buffer | null = null;
  #blockLength = 0;
  #length = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Pieces held, the block being filled included. */
  get pieceCount(): number {
    return this.#pieces.length + (this.#blockLength > 0 ? 1 : 0);
  }

  /** Appends `data` (not kept when copied, so the caller may reuse it then). */
  append(data: Buffer): void {
    const length = data.length;
    if (length === 0) return;
    this.#length += length;
    // A large piece that uses at least half of its allocation is kept: copying it would cost
    // time and save little.
    if (length >= SMALL_PIECE && length * 2 >= data.buffer.byteLength) {
      this.#seal();
      this.#pieces.push(data);
      return;
    }
    let offset = 0;
    while (offset < length) {
      const left = length - offset;
      let block = this.#block;
      if (block === null) {
        block = this.#block = Buffer.allocUnsafeSlow(capacityFor(left));
        this.#blockLength = 0;
      } else if (this.#blockLength + left > block.length && block.length < BLOCK_SIZE) {
        // Grow geometrically: each byte is copied at most about twice over a block's life.
        const grown = Buffer.allocUnsafeSlow(capacityFor(this.#blockLength + left));
        block.copy(grown, 0, 0, this.#blockLength);
        collectionStats.bytesCopied += this.#blockLength;
        block = this.#block = grown;
      }
      const room = block.length - this.#blockLength;
      const count = left < room ? left : room;
      data.copy(block, this.#blockLength, offset, offset + count);
      collectionStats.bytesCopied += count;
      this.#blockLength += count;
      offset += count;
      if (this.#blockLength === block.length && block.length >= BLOCK_SIZE) this.#seal();
    }
  }

  /** Takes the sealed pieces (every piece except the block being filled), in order. */
  takeSealed(): Buffer[] {
    const pieces = this.#pieces;
    if (pieces.length === 0) return pieces;
    this.#pieces = [];
    this.#length = this.#blockLength;
    return pieces;
  }

  /** Takes everything held, in order; the collection is empty afterwards. */
  take(): Buffer[] {
    this.#seal();
    const pieces = this.#pieces;
    this.#pieces = [];
    this.#length = 0;
    return pieces;
  }

  /** Drops everything held. */
  clear(): void {
    this.#pieces = [];
    this.#block = null;
    this.#blockLength = 0;
    this.#length = 0;
  }

  // The block becomes a piece: a view of it. Blocks grow only when full, so it is more than half
  // full, but for a first block (at most FIRST_BLOCK bytes wasted).
  #seal(): void {
    const block = this.#block;
    if (block === null) return;
    const used = this.#blockLength;
    this.#block = null;
    this.#blockLength = 0;
    if (used > 0) this.#pieces.push(used === block.length ? block : block.subarray(0, used));
  }
}
