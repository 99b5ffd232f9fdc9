// Incremental comparison of two output streams (internal, used by the mixed server's shadow mode).
//
// Bytes are compared as soon as both sides have produced them; only the bytes one side has
// produced and the other has not yet (the lead) are kept, and that lead is bounded by `limit`.
// The last `window` equal bytes are copied aside so that a divergence can be shown in context.

/** Where two outputs first differ, with up to `window` bytes on each side of that offset. */
export interface ComparisonDivergence {
  /** The offset of the first byte that differs (or that one side has and the other has not). */
  offset: number;
  /** The offset of the first byte of `primary` and `shadow` (`offset` minus the context before). */
  start: number;
  /** The primary's bytes from `start`: the equal context, then up to `window` bytes from `offset`. */
  primary: Buffer;
  /** The shadow's bytes from `start`, likewise. */
  shadow: Buffer;
}

export type ComparisonSide = 0 | 1;

export interface OutputComparatorOptions {
  /** The largest lead (bytes produced by one side only) kept before `onOverrun`. */
  limit: number;
  /** Bytes of context reported on each side of a divergence. */
  window: number;
  onDivergence(divergence: ComparisonDivergence): void;
  onOverrun(side: ComparisonSide, buffered: number): void;
  /** Both sides ended with the same bytes. */
  onEqual(): void;
}

class Pending {
  chunks: Buffer[] = [];
  head = 0;
  length = 0;
  ended = false;
  total = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.total += chunk.length;
  }

  /** The first buffered chunk (never empty), or undefined. */
  first(): Buffer | undefined {
    return this.chunks[this.head];
  }

  consume(n: number): void {
    const first = this.chunks[this.head]!;
    this.length -= n;
    if (n === first.length) {
      this.chunks[this.head] = EMPTY;
      this.head++;
      if (this.head === this.chunks.length) {
        this.chunks = [];
        this.head = 0;
      } else if (this.head >= 64) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    } else {
      this.chunks[this.head] = first.subarray(n);
    }
  }

  /** Up to `n` buffered bytes, copied. */
  peek(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    for (let i = this.head; i < this.chunks.length && left > 0; i++) {
      const chunk = this.chunks[i]!;
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
      parts.push(part);
      left -= part.length;
    }
    return Buffer.concat(parts);
  }
}

const EMPTY = Buffer.alloc(0);

export class OutputComparator {
  #options: OutputComparatorOptions;
  #sides: [Pending, Pending] = [new Pending(), new Pending()];
  // Bytes compared equal so far, and a copy of the last `window` of them.
  #compared = 0;
  #context: Buffer = EMPTY;
  // Set once the outputs differ: we then collect `window` bytes from each side and report.
  #divergedAt = -1;
  #settled = false;

  constructor(options: OutputComparatorOptions) {
    this.#options = options;
  }

  /** True once a result was reported (equal, divergence) or {@link stop} was called. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Bytes held for comparison (both sides). */
  get bufferedLength(): number {
    return this.#sides[0].length + this.#sides[1].length;
  }

  push(side: ComparisonSide, chunk: Buffer): void {
    if (this.#settled || chunk.length === 0) return;
    const pending = this.#sides[side];
    if (this.#divergedAt >= 0) {
      // Only a window's worth is kept after the divergence.
      if (pending.length < this.#options.window) pending.push(chunk);
      this.#checkReport();
      return;
    }
    pending.push(chunk);
    this.#compare();
    if (!this.#settled && this.#divergedAt < 0 && pending.length > this.#options.limit) {
      this.#settled = true;
      this.#options.onOverrun(side, pending.length);
    }
  }

  end(side: ComparisonSide): void {
    if (this.#settled) return;
    this.#sides[side].ended = true;
    if (this.#divergedAt >= 0) this.#checkReport();
    else this.#compare();
  }

  /** Reports a divergence being collected with what has arrived; then ignores everything. */
  flush(): void {
    if (this.#settled) return;
    if (this.#divergedAt >= 0) this.#report();
  }

  /** Stops comparing without reporting anything. */
  stop(): void {
    this.#settled = true;
    this.#sides = [new Pending(), new Pending()];
  }

  #compare(): void {
    const [a, b] = this.#sides;
    for (;;) {
      const x = a.first();
      const y = b.first();
      if (x === undefined || y === undefined) break;
      const n = x.length < y.length ? x.length : y.length;
      const px = x.length === n ? x : x.subarray(0, n);
      const py = y.length === n ? y : y.subarray(0, n);
      if (!px.equals(py)) {
        let i = 0;
        while (px[i] === py[i]) i++;
        this.#remember(px.subarray(0, i));
        a.consume(i);
        b.consume(i);
        this.#compared += i;
        this.#diverge();
        return;
      }
      this.#remember(px);
      a.consume(n);
      b.consume(n);
      this.#compared += n;
    }
    // One side is empty: it differs if it has ended while the other still has bytes.
    if ((a.ended && b.length > 0) || (b.ended && a.length > 0)) {
      this.#diverge();
    } else if (a.ended && b.ended) {
      this.#settled = true;
      this.#options.onEqual();
    }
  }

  #remember(equal: Buffer): void {
    const window = this.#options.window;
    if (window === 0 || equal.length === 0) return;
    if (equal.length >= window) {
      this.#context = Buffer.from(equal.subarray(equal.length - window));
    } else {
      const joined = Buffer.concat([this.#context, equal]);
      this.#context = Buffer.from(joined.subarray(Math.max(0, joined.length - window)));
    }
  }

  #diverge(): void {
    this.#divergedAt = this.#compared;
    this.#checkReport();
  }

  #checkReport(): void {
    const window = this.#options.window;
    const complete = (side: Pending): boolean => side.ended || side.length >= window;
    if (complete(this.#sides[0]) && complete(this.#sides[1])) this.#report();
  }

  #report(): void {
    this.#settled = true;
    const window = this.#options.window;
    const context = this.#context;
    const divergence: ComparisonDivergence = {
      offset: this.#divergedAt,
      start: this.#divergedAt - context.length,
      primary: Buffer.concat([context, this.#sides[0].peek(window)]),
      shadow: Buffer.concat([context, this.#sides[1].peek(window)]),
    };
    this.#sides = [new Pending(), new Pending()];
    this.#options.onDivergence(divergence);
  }
}
