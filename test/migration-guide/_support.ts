// Loopback clients shared by the migration-guide specs (not a spec itself).
import net from 'node:net';

/** Resolves on the next event-loop turn (lets sockets and loops make progress). */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Resolves with `probe()`'s first truthy result, checking once per event-loop turn; rejects after
 * `turns` turns so that a broken expectation fails fast instead of hanging.
 */
export async function eventually<T>(probe: () => T, turns = 20_000): Promise<T> {
  for (let i = 0; i < turns; i++) {
    const value = probe();
    if (value) return value;
    await turn();
  }
  throw new Error(`Condition not met after ${turns} event-loop turns`);
}

/** Options of {@link TestClient.connect}. */
export interface ClientOptions {
  /** Split every send into pieces of this many bytes, each in its own TCP segment. */
  chunkSize?: number;
}

/**
 * A loopback client that reads lines or byte counts on demand, and can send its input in small
 * chunks (one write per event-loop turn, Nagle off) to exercise the servers' framing.
 */
export class TestClient {
  readonly socket: net.Socket;
  readonly #chunkSize: number;
  #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;
  #waiter: (() => void) | null = null;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket, options: ClientOptions) {
    this.socket = socket;
    this.#chunkSize = options.chunkSize ?? Infinity;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#wake();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('error', () => undefined); // a reset shows up as 'close'
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static connect(port: number, options: ClientOptions = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.removeListener('error', reject);
        resolve(new TestClient(socket, options));
      });
      socket.once('error', reject);
    });
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  #buffer(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  #take(n: number): Buffer {
    const buffer = this.#buffer();
    const taken = buffer.subarray(0, n);
    this.#chunks = n < buffer.length ? [buffer.subarray(n)] : [];
    this.#length -= n;
    return taken;
  }

  /** Sends `data` (in pieces of `chunkSize` bytes, if set) and resolves once written. */
  send(data: string | Buffer): Promise<void> {
    return this.#send(data, this.#chunkSize);
  }

  /** Sends `data` in one write, whatever `chunkSize` says (for bulk payloads). */
  sendWhole(data: string | Buffer): Promise<void> {
    return this.#send(data, Infinity);
  }

  async #send(data: string | Buffer, chunkSize: number): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const step = Math.min(chunkSize, bytes.length) || 1;
    for (let offset = 0; offset < bytes.length; offset += step) {
      const piece = bytes.subarray(offset, offset + step);
      // The server may close mid-message (QUIT, a too-long line): then stop sending.
      if (this.#ended || this.socket.destroyed) return;
      await new Promise<void>((resolve) => this.socket.write(piece, () => resolve()));
      if (step < bytes.length) await turn();
    }
  }

  /** The next line without its "\n", or null at end-of-stream. */
  async line(): Promise<string | null> {
    for (;;) {
      const index = this.#buffer().indexOf(0x0a);
      if (index !== -1) return this.#take(index + 1).toString('utf8', 0, index);
      if (this.#ended) return null;
      await this.#wait();
    }
  }

  /** Exactly `n` bytes (fewer only at end-of-stream). */
  async bytes(n: number): Promise<Buffer> {
    while (this.#length < n && !this.#ended) await this.#wait();
    return this.#take(Math.min(n, this.#length));
  }

  /** Resolves when the server has ended the connection, with what was left unread. */
  async end(): Promise<Buffer> {
    while (!this.#ended) await this.#wait();
    return this.#take(this.#length);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
