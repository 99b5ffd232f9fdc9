// Shadow mode of the mixed server (internal; the public types are re-exported by
// mixed-server.ts): the primary and the shadow both run over in-memory pairs; the client's input
// is pumped to both (the shadow's copy bounded), the primary's output to the client, and the two
// outputs are compared incrementally. The shadow can neither block the primary nor fail it.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { ConnectionClosedError, InvalidArgumentError, OutOfRangeError } from '../errors.js';
import { checkMilliseconds, checkPositiveInteger, describeValue } from '../modern/_validate.js';
import { closeGracefully } from '../_core/linger.js';
import { duplexPair } from './_duplex-pair.js';
import { OutputComparator } from './_output-comparator.js';
import type { Implementation } from './_routing.js';

/**
 * Shadow mode: each connection also runs the other implementation, over an in-memory duplex, on a
 * copy of the client's input; only the primary's output reaches the client.
 *
 * @example
 * ```ts
 * const shadow: ShadowOptions = { maxBuffered: 256 * 1024, window: 16, grace: 2_000 };
 * ```
 */
export interface ShadowOptions {
  /**
   * The most bytes the shadow may lag behind: input copied to it but not yet read by it, and
   * output of one side not yet matched by the other. Past it the shadow of that connection is
   * dropped (`'shadowDropped'`, reason `'input-overrun'` or `'output-overrun'`). @default 1 MiB
   */
  maxBuffered?: number | undefined;
  /** Bytes of context on each side of a divergence in the report. @default 32 */
  window?: number | undefined;
  /**
   * After the primary's connection closed, how long (ms) the shadow may take to finish its
   * output; then it is dropped (reason `'timeout'`). @default 1000
   */
  grace?: number | undefined;
}

/** The `'divergence'` event: the shadow's output differs from the primary's. */
export interface DivergenceReport {
  /** The connection's id. */
  readonly id: number;
  /** The offset of the first byte that differs (or that one output has past the other's end). */
  readonly offset: number;
  /** The offset of the first byte of `primary` and `shadow`: up to `window` bytes before `offset`. */
  readonly start: number;
  /** The primary's output from `start`: the equal context, then up to `window` bytes from `offset`. */
  readonly primary: Buffer;
  /** The shadow's output from `start`, likewise. */
  readonly shadow: Buffer;
  /** Which implementation produced `primary` (the other one produced `shadow`). */
  readonly primaryImplementation: Implementation;
}

/** Why a shadow stopped before its output could be compared to the end. */
export type ShadowDropReason =
  'input-overrun' | 'output-overrun' | 'error' | 'timeout' | 'incomplete' | 'shutdown';

/** The `'shadowDropped'` event. */
export interface ShadowDropReport {
  /** The connection's id. */
  readonly id: number;
  /** The shadow's implementation. */
  readonly implementation: Implementation;
  /**
   * `'input-overrun'` / `'output-overrun'`: it lagged more than `maxBuffered`; `'error'`: it
   * threw (also reported through `'error'`, role `'shadow'`); `'timeout'`: it had not finished
   * `grace` ms after the connection closed; `'incomplete'`: the connection closed before the
   * primary finished its output (nothing to compare); `'shutdown'`: a forced shutdown.
   */
  readonly reason: ShadowDropReason;
}

const DEFAULT_MAX_BUFFERED = 1024 * 1024;
const DEFAULT_WINDOW = 32;
const DEFAULT_GRACE = 1_000;
// The in-memory pairs of the shadows: half-open like the accepted sockets; bytes written to an
// end that is gone are dropped (its close already told the story) rather than failing the writer.
const PAIR_OPTIONS = {
  highWaterMark: 64 * 1024,
  allowHalfOpen: true,
  writeToGonePeer: 'discard',
} as const;

const ignore = (): void => {};

export function checkShadow(shadow: unknown): Required<ShadowOptions> | undefined {
  if (shadow === undefined || shadow === false) return undefined;
  if (shadow === true) shadow = {};
  if (typeof shadow !== 'object' || shadow === null) {
    throw new InvalidArgumentError(
      `Expected \`shadow\` to be a boolean or an options object, got ${describeValue(shadow)}`,
    );
  }
  const options = shadow as ShadowOptions;
  const window = options.window ?? DEFAULT_WINDOW;
  if (typeof window !== 'number' || !Number.isInteger(window) || window < 0) {
    throw new (typeof window === 'number' ? OutOfRangeError : InvalidArgumentError)(
      `Expected \`shadow.window\` to be a non-negative integer, got ${describeValue(window)}`,
    );
  }
  return {
    maxBuffered: checkPositiveInteger(
      'shadow.maxBuffered',
      options.maxBuffered ?? DEFAULT_MAX_BUFFERED,
    ),
    window,
    grace: checkMilliseconds('shadow.grace', options.grace ?? DEFAULT_GRACE),
  };
}

/** A running implementation, as the shadow session stops it. */
export interface Run {
  /** Stops the implementation now: modern signal aborted with `reason`, dispatcher closed. */
  stop(reason: unknown): void;
  /**
   * A primary run by its connection's runner (a modern handler on the socket itself): its
   * handler settled, close the connection gracefully. Absent for the others, which close
   * themselves.
   */
  done?(): void;
}

/** What the session needs from its server. */
export interface ShadowHost {
  /** Starts `implementation` on `transport`; undefined when it could not start (reported). */
  start(
    implementation: Implementation,
    transport: Duplex,
    role: 'primary' | 'shadow',
  ): Run | undefined;
  divergence(report: DivergenceReport): void;
  dropped(report: ShadowDropReport): void;
  /** The session ended after its connection had closed (it no longer counts as running). */
  settled(): void;
}

/** One shadowed connection: the pumps, the comparator and both runs. */
export class ShadowSession {
  readonly #host: ShadowHost;
  readonly #options: Required<ShadowOptions>;
  readonly #id: number;
  readonly #socket: net.Socket;
  readonly #shadowKind: Implementation;
  readonly #comparator: OutputComparator;
  readonly #outer: Duplex;
  readonly #inner: Duplex;
  readonly #input: Duplex;
  readonly #shadowInner: Duplex;
  readonly #lingerTimeout: number;
  #primary: Run | undefined;
  #shadow: Run | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done = false;
  #lingering = false;
  #primaryOutputEnded = false;

  constructor(
    host: ShadowHost,
    options: Required<ShadowOptions>,
    id: number,
    socket: net.Socket,
    primary: Implementation,
    shadowKind: Implementation,
    lingerTimeout: number,
  ) {
    this.#host = host;
    this.#options = options;
    this.#id = id;
    this.#socket = socket;
    this.#shadowKind = shadowKind;
    this.#lingerTimeout = lingerTimeout;
    const [outer, inner] = duplexPair(PAIR_OPTIONS);
    const [shadowOuter, shadowInner] = duplexPair(PAIR_OPTIONS);
    for (const end of [outer, inner, shadowOuter, shadowInner]) end.on('error', ignore);
    this.#outer = outer;
    this.#inner = inner;
    this.#input = shadowOuter;
    this.#shadowInner = shadowInner;
    this.#comparator = new OutputComparator({
      limit: options.maxBuffered,
      window: options.window,
      onDivergence: (divergence) => {
        host.divergence({ ...divergence, id, primaryImplementation: primary });
        this.#end();
      },
      onOverrun: () => this.drop('output-overrun'),
      onEqual: () => this.#end(),
    });
    this.#pump();
    this.#primary = host.start(primary, inner, 'primary');
    if (!this.#done) {
      this.#shadow = host.start(shadowKind, shadowInner, 'shadow');
      if (this.#shadow === undefined) this.drop('error');
    }
  }

  /** The shadow stopped (compared, diverged or dropped). */
  get done(): boolean {
    return this.#done;
  }

  /** Still running after its connection closed (bounded by `grace`). */
  get lingering(): boolean {
    return this.#lingering;
  }

  /** Stops the primary now (a forced shutdown). */
  stopPrimary(reason: unknown): void {
    this.#primary?.stop(reason);
  }

  /** Stops the shadow before the end of the comparison and says why. */
  drop(reason: ShadowDropReason, abortReason?: unknown): void {
    if (this.#done) return;
    this.#stop(abortReason ?? new ConnectionClosedError(`Cannot go on shadowing: ${reason}`));
    this.#host.dropped({ id: this.#id, implementation: this.#shadowKind, reason });
    this.#settle();
  }

  /** The client's socket closed. */
  socketClosed(): void {
    // The socket is gone: the primary's transport goes too (a reset unless both sides had
    // finished), as its socket would have without the shadow.
    this.#outer.destroy();
    this.#inner.destroy();
    if (this.#done) return;
    if (!this.#primaryOutputEnded) {
      // The client went away before the primary's output was complete: nothing to compare.
      this.drop('incomplete');
      return;
    }
    // Give the shadow `grace` ms to finish its output; its input has ended too.
    if (!this.#input.writableEnded) this.#input.end();
    this.#lingering = true;
    this.#timer = setTimeout(() => {
      // A divergence still collecting its window is reported with what arrived.
      this.#comparator.flush();
      this.drop('timeout');
    }, this.#options.grace);
  }

  #pump(): void {
    const socket = this.#socket;
    const outer = this.#outer;
    const input = this.#input;
    const comparator = this.#comparator;
    const maxBuffered = this.#options.maxBuffered;
    // Client -> primary (with backpressure) and -> shadow (a bounded copy).
    let inputPaused = false;
    socket.on('data', (chunk: Buffer) => {
      if (!outer.writableEnded && !outer.destroyed && !outer.write(chunk)) {
        inputPaused = true;
        socket.pause();
      }
      if (!this.#done) {
        input.write(Buffer.from(chunk));
        if (input.writableLength > maxBuffered) this.drop('input-overrun');
      }
    });
    outer.on('drain', () => {
      if (inputPaused) {
        inputPaused = false;
        socket.resume();
      }
    });
    socket.on('end', () => {
      if (!outer.writableEnded) outer.end();
      if (!this.#done && !input.writableEnded) input.end();
    });
    // Primary -> client; once the primary closed and its output is all passed on, the socket
    // closes gracefully (lingering: nothing the primary wrote is truncated).
    let primaryClosed = false;
    const finishSocket = (): void => {
      if (!this.#primaryOutputEnded || !primaryClosed || socket.destroyed) return;
      closeGracefully(socket, { lingerTimeout: this.#lingerTimeout });
    };
    outer.on('data', (chunk: Buffer) => {
      if (!socket.destroyed && !socket.writableEnded && !socket.write(chunk)) outer.pause();
      comparator.push(0, chunk);
    });
    socket.on('drain', () => outer.resume());
    outer.on('end', () => {
      this.#primaryOutputEnded = true;
      comparator.end(0);
      // A half-close of the primary passes through.
      if (!socket.writableEnded) socket.end();
      finishSocket();
    });
    outer.on('close', () => {
      // Closed without end-of-stream: the primary reset its transport; so do we.
      if (!this.#primaryOutputEnded) socket.destroy();
    });
    this.#inner.on('close', () => {
      primaryClosed = true;
      finishSocket();
    });
    // Shadow output: always read (the shadow never blocks on it), only compared.
    input.on('data', (chunk: Buffer) => comparator.push(1, chunk));
    input.on('end', () => comparator.end(1));
    input.on('close', () => comparator.end(1));
  }

  // The comparison is over (equal or diverged): the shadow is not needed any more.
  #end(): void {
    if (this.#done) return;
    this.#stop(new ConnectionClosedError('Shadow comparison finished'));
    this.#settle();
  }

  #stop(reason: unknown): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#comparator.stop();
    this.#shadow?.stop(reason);
    this.#input.destroy();
    this.#shadowInner.destroy();
  }

  #settle(): void {
    if (!this.#lingering) return;
    this.#lingering = false;
    this.#host.settled();
  }
}
