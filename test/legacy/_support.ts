// Shared scaffolding for the legacy layer's specs (not a spec itself).
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  AsyncChat,
  Dispatcher,
  DispatcherWithSend,
  type Address,
  type DispatcherEvents,
  type LogType,
  type SocketMap,
} from '../../src/legacy/index.js';

export type LogEntry = { type: LogType; message: string };

/** Records what the dispatcher would have logged instead of printing it. */
export class QuietDispatcher extends Dispatcher {
  logs: LogEntry[] = [];
  override logInfo(message: string, type: LogType = 'info'): void {
    this.logs.push({ type, message });
  }
}

/** Counts its handleConnect() and handleClose() calls and records its errors, quietly. */
export class TrackedDispatcher extends Dispatcher {
  closes = 0;
  connects = 0;
  errors: unknown[] = [];
  override handleConnect(): void {
    this.connects++;
  }
  override handleClose(): void {
    this.closes++;
    this.close();
  }
  override handleError(error: unknown): void {
    this.errors.push(error);
    super.handleError(error);
  }
  override logInfo(): void {}
}

/** A DispatcherWithSend that counts its handleClose() calls and records its errors, quietly. */
export class TrackedDispatcherWithSend extends DispatcherWithSend {
  closes = 0;
  errors: unknown[] = [];
  override handleClose(): void {
    this.closes++;
    this.close();
  }
  override handleError(error: unknown): void {
    this.errors.push(error);
    super.handleError(error);
  }
  override logInfo(): void {}
}

/** Echoes what it receives; counts its handleClose() calls and records its errors. */
export class EchoHandler extends TrackedDispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(65536);
    if (data.length > 0) this.send(data);
  }
}

/** A listening dispatcher that wraps each accepted socket with `factory`. */
export class Acceptor<T extends Dispatcher> extends QuietDispatcher {
  readonly accepted: T[] = [];
  constructor(
    readonly factory: (socket: Duplex, map: SocketMap) => T,
    map: SocketMap,
  ) {
    super({ map });
  }
  override handleAccepted(socket: Duplex, _address: Address): void {
    this.accepted.push(this.factory(socket, this.map));
  }
}

export async function listenOn<T extends Dispatcher>(
  map: SocketMap,
  factory: (socket: Duplex, map: SocketMap) => T,
  address: Address = { host: '127.0.0.1', port: 0 },
): Promise<{ server: Acceptor<T>; port: number }> {
  const server = new Acceptor(factory, map);
  server.bind(address);
  await server.listen();
  const bound = server.address();
  return { server, port: bound !== null && 'port' in bound ? bound.port : 0 };
}

/** Connects a plain net.Socket client and resolves once connected. */
export function connectClient(options: net.NetConnectOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options, () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Collects everything `stream` emits until it ends (or closes). */
export function collect(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Reads from `stream` until `bytes` bytes arrived. */
export function readBytes(stream: Duplex, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= bytes) {
        stream.removeListener('data', onData);
        stream.removeListener('error', reject);
        stream.pause();
        resolve(Buffer.concat(chunks));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
    stream.resume();
  });
}

/** An AsyncChat that records each message (bytes collected up to a terminator). */
export class RecordingChat extends AsyncChat {
  readonly messages: string[] = [];
  readonly collected: Buffer[] = [];
  parts: Buffer[] = [];
  closes = 0;
  errors: unknown[] = [];
  override collectIncomingData(data: Buffer): void {
    if (data.length === 0) throw new Error('collectIncomingData() got an empty chunk');
    this.collected.push(data);
    this.parts.push(data);
  }
  override foundTerminator(): void {
    this.messages.push(Buffer.concat(this.parts.splice(0)).toString('latin1'));
  }
  override handleClose(): void {
    this.closes++;
    this.close();
  }
  override handleError(error: unknown): void {
    this.errors.push(error);
    super.handleError(error);
  }
  override logInfo(): void {}
}

export { AsyncChat, Dispatcher, DispatcherWithSend };

/** Resolves with the arguments of the dispatcher's next `event`. */
export function nextEvent<E extends keyof DispatcherEvents>(
  dispatcher: Dispatcher,
  event: E,
): Promise<DispatcherEvents[E]> {
  return new Promise((resolve) => {
    const listener = (...args: DispatcherEvents[E]): void => resolve(args);
    dispatcher.once(event, listener);
  });
}

/**
 * Resolves with `probe()`'s first non-undefined result, checking once per event-loop turn; gives
 * up (rejects) after `turns` turns so that a broken expectation fails fast instead of hanging.
 */
export async function eventually<T>(probe: () => T | undefined, turns = 10_000): Promise<T> {
  for (let i = 0; i < turns; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`Condition not met after ${turns} event-loop turns`);
}
