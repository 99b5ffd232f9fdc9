// One connection of startServer's Server (internal): what the core, the runner and the wiring each
// need of it, in one object with shared methods, and the handler's context. Cheap per idle
// connection: no closure per connection, and the AbortController behind `context.signal` is
// created only when someone asks for the signal (a handler that reads it, the runner's queue or
// idle clock, an error to classify). An abort before that is remembered and the signal, once
// asked for, is born aborted with that reason.
import type net from 'node:net';
import type { Address } from '../address.js';
import type { CoreConnection } from '../_core/server-core.js';
import type { HandlerRun } from '../_core/runner.js';
import { ConnectionClosedError } from './errors.js';
import { ownSignal, type StreamReader } from './reader.js';
import { wiredWriter, type StreamWriter } from './writer.js';
import { OwnedSignal } from './_owned-signal.js';
import { Wire } from './_wire.js';
import { peekPeer, peerAddress } from '../_core/address.js';
import { abortSlot, controllerOf, NOT_ABORTED, type AbortSlot } from '../_core/lazy-abort.js';
import type { StreamWriterOptions } from './writer.js';

/** What a handler knows about its connection (the public shape is `ConnectionContext`). */
export interface ServedContext {
  readonly signal: AbortSignal;
  readonly id: number;
  readonly remoteAddress: Address;
}

/** What the server gives each of its connections. */
export interface ServedHost {
  /** Runs the handler of a connection. */
  handler(reader: StreamReader, writer: StreamWriter, context: ServedContext): Promise<void> | void;
  /** Reports a handler error. */
  report(error: unknown, context: ServedContext): void;
  /** Counts a refused connection. */
  refused(): void;
  /** The connection's socket has closed: unregister it. */
  closed(connection: ServedConnection): void;
}

/** A connection's context: its signal is its connection's (created on first use). */
class Context implements ServedContext {
  readonly id: number;
  readonly #connection: ServedConnection;
  // Undefined until first asked for: then made from the socket's peer (see ServedConnection).
  #remoteAddress: Address | undefined;

  constructor(connection: ServedConnection, id: number, remoteAddress: Address | undefined) {
    this.#connection = connection;
    this.id = id;
    this.#remoteAddress = remoteAddress;
  }

  /** Aborted when the handler should stop (see ConnectionContext.signal). */
  get signal(): AbortSignal {
    return this.#connection.controller.signal;
  }

  /** The peer's address (see ConnectionContext.remoteAddress). */
  get remoteAddress(): Address {
    return (this.#remoteAddress ??= peerAddress(this.#connection.socket) ?? NO_PEER);
  }
}

// The peer of a socket that has none any more (it closed before anyone read its address).
const NO_PEER: Address = Object.freeze({ host: '', port: 0 });

/** An accepted connection: its wiring, a core connection and a handler run, in one object. */
export class ServedConnection extends Wire implements CoreConnection, HandlerRun {
  declare readonly socket: net.Socket;
  readonly context: ServedContext;
  readonly #host: ServedHost;
  // The AbortController once created; before that, whether (and why) an abort came.
  #controller: AbortSlot = NOT_ABORTED;

  constructor(
    host: ServedHost,
    socket: net.Socket,
    id: number,
    remoteAddress: Address | undefined,
    limit: number | undefined,
    writerOptions: StreamWriterOptions,
    forwardClose: boolean,
  ) {
    super(socket, limit, writerOptions, true, forwardClose);
    this.#host = host;
    // Node reads the peer once and keeps it, after the close too (if it was read before): the
    // context's Address is made from it when asked for (an idle connection holds none).
    if (remoteAddress === undefined) peekPeer(socket);
    this.context = new Context(this, id, remoteAddress);
  }

  // CoreConnection's id and address: the context's.
  get id(): number {
    return this.context.id;
  }

  get remoteAddress(): Address {
    return this.context.remoteAddress;
  }

  /** The connection's AbortController, created on first use (aborted if an abort came first). */
  get controller(): AbortController {
    const slot = this.#controller;
    if (slot instanceof AbortController) return slot;
    const controller = controllerOf(slot);
    this.#controller = controller;
    if (slot === NOT_ABORTED) {
      // Its first listener: the reader and the writer read its state from a plain field.
      const owned = new OwnedSignal(controller.signal);
      ownSignal(this.reader, owned);
      wiredWriter.own(this.writer, owned);
    }
    return controller;
  }

  /** Aborts the signal (once: the first reason wins), whether it exists yet or not. */
  abortSignal(reason: unknown): void {
    this.#controller = abortSlot(this.#controller, reason);
  }

  // CoreConnection: a forced stop.
  abort(reason: unknown): void {
    this.abortSignal(reason);
    this.fail(reason);
  }

  // HandlerRun (fail() is the wiring's).
  start(): Promise<void> | void {
    return this.#host.handler(this.reader, this.writer, this.context);
  }

  close(): void {
    this.writer.close();
  }

  report(error: unknown): void {
    this.#host.report(error, this.context);
  }

  refused(): void {
    this.#host.refused();
  }

  // A socket error: the writer records it (it has no listener of its own), then the reader fails.
  override error(error: unknown): void {
    this.forwardError(error);
    super.error(error);
  }

  // The socket closed: after the writer and the reader, the signal aborts and the core forgets it.
  override closed(): void {
    super.closed();
    this.abortSignal(new ConnectionClosedError('Connection closed'));
    this.#host.closed(this);
  }
}
