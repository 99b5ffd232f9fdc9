/* eslint-disable @typescript-eslint/prefer-promise-reject-errors --
   Cancelled waits reject with `signal.reason` unchanged and stored errors are rethrown as given,
   whatever their type (DESIGN: "rejects with the signal's reason"). */
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Address } from '../address.js';
import { closeGracefully } from '../_core/linger.js';
import { ConnectionClosedError, InvalidArgumentError, InvalidStateError } from './errors.js';
import type { OwnedSignal } from './_owned-signal.js';
import { checkSignal, describeValue } from './_validate.js';
import { NO_EXTRA, transportInfo, type ExtraInfo, type ExtraInfoName } from './_extra-info.js';
import { wiredWriter as access, type ClosingHook } from './_wired-writer.js';

/** @internal The wiring's access to its writer (see _wired-writer.ts; assigned below). */
export const wiredWriter = access;

// Writes of at least this many bytes are not gathered (copying them would cost more than it saves).
const BIG_WRITE = 16 * 1024;

export type { Address };

/** @deprecated The same type as {@link Address}, the name both layers share: use `Address`. */
export type StreamAddress = Address;

export type { ExtraInfoName } from './_extra-info.js';

/** Options of {@link StreamWriter}. */
export interface StreamWriterOptions {
  /**
   * Values returned by {@link StreamWriter.getExtraInfo} instead of the ones derived from the
   * stream (for example `peername` of a Unix-socket client, or the addresses of a non-socket
   * transport built by an adapter).
   */
  extraInfo?: ExtraInfo | undefined;
  /**
   * How long {@link StreamWriter.close} may linger, in ms, while the peer does not take the
   * queued bytes or, once they are sent, does not end its side (default 5000). Then the transport
   * is destroyed.
   */
  lingerTimeout?: number | undefined;
}

// What the wiring of the writer being made by wiredWriter.create() forwards.
let closeForwarded = false;
let errorForwarded = false;

const kWriter = Symbol('dispatch-bridge:writer');

type WrittenDuplex = Duplex & { [kWriter]?: StreamWriter };

// What drain() returns when the transport is not congested: one settled promise for every call
// (a settled promise never changes, so sharing it is safe).
const RESOLVED = Promise.resolve();

// process.nextTick(flushLater, writer): the gathered writes' flush, without a closure per writer
// (assigned by StreamWriter's static block).
let flushLater: (writer: StreamWriter) => void;

// The writer's state bits.
// close() or abort() was called.
const CLOSING = 1;
// writeEof() was called.
const EOF_WRITTEN = 2;
// The stream emitted 'close': the source of truth for "the connection is gone".
const CLOSED = 4;
// The gathered writes' flush is scheduled (process.nextTick).
const FLUSH_SCHEDULED = 8;

interface DrainWaiter {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * An asyncio-style stream writer over any Node `Duplex` (a `net.Socket`, a `tls.TLSSocket`, an
 * in-memory pair, or a Duplex an adapter builds around another transport).
 *
 * The transport contract is small: `write()`, `end()`, `destroy()`, `writableNeedDrain`,
 * `writableLength`, `writableHighWaterMark`,
 * `destroyed`, and the `'drain'`, `'finish'`, `'error'` and `'close'` events. The writer adds
 * one listener for each of those four events and keeps them for the stream's lifetime.
 *
 * Rules:
 * - `write()` never waits; call {@link drain} to respect backpressure.
 * - Writing after {@link close} or {@link writeEof} throws {@link ConnectionClosedError}
 *   synchronously (asyncio silently drops such writes; we make the bug visible). A write to a
 *   connection the peer closed (or that is gone for any other reason) is dropped, as asyncio
 *   does: a late write from a timer never takes the process down.
 * - {@link close} never truncates: it sends everything written before it, ends the write side,
 *   and lingers (reading and discarding input) until the peer ends its side, bounded by
 *   `lingerTimeout`; {@link abort} closes at once.
 *
 * @example
 * ```ts
 * const { reader, writer } = await openConnection({ host: '127.0.0.1', port });
 * writer.write('PING\n');
 * await writer.drain();
 * writer.close();
 * await writer.waitClosed();
 * ```
 */
export class StreamWriter implements AsyncDisposable {
  #stream: Duplex;
  #extra: ExtraInfo;
  // CLOSING, EOF_WRITTEN, CLOSED and FLUSH_SCHEDULED (see below), or'ed: one field, not four.
  #state = 0;
  #error: unknown = undefined;
  #lingerTimeout: number | undefined;
  // The waiters of drain() and waitClosed(), created by the first one that waits.
  #drainWaiters: Set<DrainWaiter> | null = null;
  #closeWaiters: (() => void)[] | null = null;
  // Small writes of the current tick, gathered and handed to the transport as one Buffer on the
  // next tick (or sooner: drain() under pressure, a big write, writeEof(), close()): the first one
  // in #first (the common case of one write per tick needs no array), all of them in #pending
  // once there are two or more (the array is reused from one tick to the next).
  #first: Buffer | null = null;
  #pending: Buffer[] | null = null;
  #pendingLength = 0;
  #closingHook: ClosingHook | undefined = undefined;
  // The connection's own signal (see wiredWriter.own()), if the writer has an owner.
  #owned: OwnedSignal | undefined = undefined;

  static {
    flushLater = (writer) => writer.#flush();
    Object.assign(wiredWriter, {
      create(stream: Duplex, options: StreamWriterOptions | undefined, errorsToo: boolean) {
        closeForwarded = true;
        errorForwarded = errorsToo;
        try {
          return new StreamWriter(stream, options);
        } finally {
          closeForwarded = false;
          errorForwarded = false;
        }
      },
      onClosing: (writer: StreamWriter, hook: ClosingHook) => (writer.#closingHook = hook),
      own: (writer: StreamWriter, owned: OwnedSignal) => (writer.#owned = owned),
      closed: (writer: StreamWriter) => writer.#onClose(),
      error: (writer: StreamWriter, error: unknown) => writer.#onError(error),
    });
  }

  // The transport's listeners, shared by every writer: `this` is the stream, its writer is found
  // through a symbol property (no closure per writer). A second writer of the same stream
  // listens with closures of its own.
  static #drainListener = function (this: WrittenDuplex): void {
    this[kWriter]!.#onDrain();
  };
  static #errorListener = function (this: WrittenDuplex, error: unknown): void {
    this[kWriter]!.#onError(error);
  };
  static #closeListener = function (this: WrittenDuplex): void {
    this[kWriter]!.#onClose();
  };

  constructor(stream: Duplex, options: StreamWriterOptions = {}) {
    this.#stream = stream;
    this.#extra = options.extraInfo ?? NO_EXTRA;
    this.#lingerTimeout = options.lingerTimeout;
    if (stream.closed) this.#state = CLOSED;
    const written = stream as WrittenDuplex;
    if (written[kWriter] === undefined) {
      written[kWriter] = this;
      stream.on('drain', StreamWriter.#drainListener);
      stream.on('finish', StreamWriter.#drainListener);
      if (!errorForwarded) stream.on('error', StreamWriter.#errorListener);
      if (!closeForwarded) stream.on('close', StreamWriter.#closeListener);
    } else {
      const onDrain = (): void => this.#onDrain();
      stream.on('drain', onDrain);
      stream.on('finish', onDrain);
      if (!errorForwarded) stream.on('error', (error: unknown) => this.#onError(error));
      if (!closeForwarded) stream.on('close', () => this.#onClose());
    }
  }

  /**
   * The transport this writer writes to: the Duplex it was made with. The writers of
   * `toStreams()` and `asDispatcherClass()` write to an internal sink over the dispatcher's
   * `send()` that has only the transport contract above (not a whole Duplex): ask
   * {@link getExtraInfo}`('socket')` for the connection's socket.
   */
  get transport(): Duplex {
    return this.#stream;
  }

  /** Bytes written and not yet handed to the OS (gathered here or queued in the transport). */
  get bufferedLength(): number {
    return this.#pendingLength + this.#stream.writableLength;
  }

  /**
   * Queues `data` for writing (strings as UTF-8). Never waits: follow with {@link drain}.
   *
   * Small writes made in the same tick are gathered and handed to the transport as one Buffer on
   * the next tick (`process.nextTick`): one system call for the many small writes a line-by-line
   * echo makes. Writes of 16 KiB or more go to the transport at once. Keep a Buffer unchanged
   * after writing it.
   *
   * @throws {ConnectionClosedError} After {@link close} or {@link writeEof} while the connection
   * is still there. (Once the connection is gone the bytes are dropped.)
   * @throws {TypeError} If `data` is neither a string nor a Uint8Array.
   *
   * @example
   * ```ts
   * writer.write('hello\n');
   * await writer.drain();
   * ```
   */
  write(data: Uint8Array | string): void {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new InvalidArgumentError(
        `Expected \`data\` to be a string or a Uint8Array, got ${describeValue(data)}`,
      );
    }
    if (!this.#checkWritable('write') || data.length === 0) return;
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (chunk.length >= BIG_WRITE) {
      this.#flush();
      this.#stream.write(chunk);
      return;
    }
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const first = this.#first;
    if (first === null) this.#first = bytes;
    else {
      const pending = (this.#pending ??= []);
      if (pending.length === 0) pending.push(first);
      pending.push(bytes);
    }
    this.#pendingLength += chunk.length;
    if (this.#pendingLength >= BIG_WRITE) this.#flush();
    else if ((this.#state & FLUSH_SCHEDULED) === 0) {
      this.#state |= FLUSH_SCHEDULED;
      process.nextTick(flushLater, this);
    }
  }

  /**
   * Writes every item of `data` (gathered into one batch, like every write of a tick).
   *
   * @example
   * ```ts
   * writer.writeLines(['a\n', 'b\n']);
   * ```
   */
  writeLines(data: Iterable<Uint8Array | string>): void {
    for (const item of data) this.write(item);
  }

  /**
   * Waits until the transport is no longer congested. Resolves at once when it is not; otherwise
   * waits for its `'drain'` (several callers may wait together).
   *
   * @throws {ConnectionClosedError} After {@link close}, when the connection is gone, or when it
   * closes while waiting (never hangs); the transport's error, if any, is the `cause`.
   *
   * @example
   * ```ts
   * for (const row of rows) {
   *   writer.write(row);
   *   await writer.drain({ signal });
   * }
   * ```
   */
  drain(options?: { signal?: AbortSignal | undefined }): Promise<void> {
    const signal = options?.signal;
    // The connection's own signal: its state is a plain field (see _owned-signal.ts).
    const owned = this.#owned;
    const aborted =
      owned !== undefined && signal === owned.signal ? owned.aborted : checkSignal(signal)?.aborted;
    if (aborted === true) return Promise.reject(signal!.reason);
    if ((this.#state & CLOSED) !== 0 || this.#stream.destroyed) {
      return Promise.reject(this.#closedError('drain'));
    }
    if ((this.#state & CLOSING) !== 0) {
      return Promise.reject(new ConnectionClosedError('Cannot drain: the writer is closed'));
    }
    if (this.#pendingLength + this.#stream.writableLength >= this.#stream.writableHighWaterMark) {
      this.#flush();
    }
    if (!this.#stream.writableNeedDrain) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#drainWaiters?.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: DrainWaiter = {
        resolve() {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject(error) {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      (this.#drainWaiters ??= new Set()).add(waiter);
    });
  }

  /** Whether the transport supports {@link writeEof} (half-close); false for TLS, as in asyncio. */
  canWriteEof(): boolean {
    return !(this.#stream instanceof tls.TLSSocket);
  }

  /**
   * Half-closes: flushes what is queued, then sends end-of-stream; reading goes on.
   *
   * @throws {Error} If the transport cannot half-close ({@link canWriteEof} is false).
   *
   * @example
   * ```ts
   * writer.write(request);
   * writer.writeEof();
   * const response = await reader.read();
   * ```
   */
  writeEof(): void {
    if (!this.canWriteEof()) {
      throw new InvalidStateError(
        'Cannot write end-of-stream: the transport does not support half-close',
      );
    }
    if ((this.#state & (EOF_WRITTEN | CLOSING | CLOSED)) !== 0) return;
    this.#state |= EOF_WRITTEN;
    this.#flush();
    this.#stream.end();
  }

  /**
   * Closes the connection gracefully: flushes what is queued, sends end-of-stream, then lingers
   * (input is read and discarded; the reader sees end-of-stream) until the peer has taken every
   * byte and ended its side; the transport is then destroyed. A peer that stops taking bytes, or
   * keeps its side open, for `lingerTimeout` ms (default 5000) is cut off. Nothing written
   * before `close()` is truncated by a reset. Idempotent; {@link waitClosed} tells when it is
   * done.
   *
   * @example
   * ```ts
   * writer.write('BYE\n');
   * writer.close();
   * await writer.waitClosed();
   * ```
   */
  close(): void {
    if ((this.#state & CLOSING) !== 0) return;
    this.#state |= CLOSING;
    this.#runClosingHook();
    const stream = this.#stream;
    if ((this.#state & CLOSED) !== 0 || stream.destroyed) return;
    this.#flush();
    closeGracefully(stream, { lingerTimeout: this.#lingerTimeout });
  }

  /**
   * Closes the connection at once, dropping queued data (asyncio's `transport.abort()`).
   *
   * @example
   * ```ts
   * writer.abort();
   * ```
   */
  abort(): void {
    this.#state |= CLOSING;
    this.#runClosingHook();
    this.#first = null;
    if (this.#pending !== null) this.#pending.length = 0;
    this.#pendingLength = 0;
    this.#stream.destroy();
  }

  /** True once {@link close} or {@link abort} was called, or the connection is gone. */
  isClosing(): boolean {
    return (this.#state & (CLOSING | CLOSED)) !== 0 || this.#stream.destroyed;
  }

  /**
   * Resolves once the transport has closed (after {@link close}, {@link abort}, or when the
   * connection goes away). Never rejects.
   *
   * @example
   * ```ts
   * writer.close();
   * await writer.waitClosed();
   * ```
   */
  waitClosed(): Promise<void> {
    if ((this.#state & CLOSED) !== 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#closeWaiters ??= []).push(resolve));
  }

  /**
   * Information about the transport (asyncio's `get_extra_info`): `'peername'` and
   * `'sockname'` as {@link Address}, `'socket'` (the Duplex itself), `'peercert'` (TLS
   * only: the peer's certificate). `undefined` when unknown.
   *
   * @example
   * ```ts
   * const peer = writer.getExtraInfo('peername'); // { host: '127.0.0.1', port: 53124, family: 'IPv4' }
   * ```
   */
  getExtraInfo(name: ExtraInfoName): unknown {
    return name in this.#extra ? this.#extra[name] : transportInfo(this.#stream, name);
  }

  /** Closes and waits until closed: `await using writer = ...`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.waitClosed();
  }

  #runClosingHook(): void {
    const hook = this.#closingHook;
    if (hook === undefined) return;
    this.#closingHook = undefined;
    hook.writerClosing();
  }

  // True when the write may go ahead; false when the connection is gone (the bytes are dropped).
  #checkWritable(name: string): boolean {
    if ((this.#state & CLOSED) !== 0 || this.#stream.destroyed) return false;
    if ((this.#state & CLOSING) !== 0) {
      throw new ConnectionClosedError(`Cannot ${name}: the writer is closed`);
    }
    if ((this.#state & EOF_WRITTEN) !== 0) {
      throw new ConnectionClosedError(`Cannot ${name}: end-of-stream was already written`);
    }
    return true;
  }

  #closedError(name: string): ConnectionClosedError {
    return this.#error === undefined
      ? new ConnectionClosedError(`Cannot ${name}: the connection is closed`)
      : new ConnectionClosedError(`Cannot ${name}: the connection was lost`, {
          cause: this.#error,
        });
  }

  // Hands the gathered writes to the transport (dropped if it is already gone).
  #flush(): void {
    this.#state &= ~FLUSH_SCHEDULED;
    let data = this.#first;
    if (data === null) return;
    this.#first = null;
    const pending = this.#pending;
    if (pending !== null && pending.length > 0) {
      data = Buffer.concat(pending, this.#pendingLength);
      pending.length = 0;
    }
    this.#pendingLength = 0;
    if (!this.#stream.destroyed) this.#stream.write(data);
  }

  #onDrain(): void {
    const drainWaiters = this.#drainWaiters;
    if (drainWaiters === null || drainWaiters.size === 0) return;
    // A transport torn down mid-write may flush its callbacks first: that is no drain.
    if (this.#stream.destroyed) return;
    const waiters = [...drainWaiters];
    drainWaiters.clear();
    for (const waiter of waiters) waiter.resolve();
  }

  #onError(error: unknown): void {
    this.#error ??= error;
  }

  #onClose(): void {
    this.#state |= CLOSED;
    const drainWaiters = this.#drainWaiters;
    if (drainWaiters !== null && drainWaiters.size > 0) {
      const waiters = [...drainWaiters];
      drainWaiters.clear();
      for (const waiter of waiters) waiter.reject(this.#closedError('drain'));
    }
    const closeWaiters = this.#closeWaiters;
    if (closeWaiters === null) return;
    this.#closeWaiters = null;
    for (const resolve of closeWaiters) resolve();
  }
}
