/**
 * The servers `dispatch-bridge serve` and the demo run: each example protocol in each style,
 * started from the library and the migration guide's teaching pairs (imported, not copied).
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { Dispatcher, DispatcherWithSend, SocketMap, loop } from '../src/legacy/index.js';
import { startServer, type ConnectionStats, type StreamHandler } from '../src/modern/index.js';
import { startMixedServer, type LegacyHandlerClass } from '../src/adapter/index.js';
import {
  MAX_LINE as CHAT_MAX_LINE,
  startChatLegacy,
} from '../migration-guide/examples/pairs/chat-legacy.js';
import { startChatModern } from '../migration-guide/examples/pairs/chat-modern.js';
import { MAX_LINE, Store, newStats } from '../migration-guide/examples/steps/_kv.js';
import { kvChannelClass } from '../migration-guide/examples/steps/kv-legacy.js';
import { kvHandler } from '../migration-guide/examples/steps/kv-modern.js';
import type { Example, Style } from './args.js';
import { mixedChat } from './mixed-chat.js';
import { startShadowed, type ShadowedExample } from './shadow.js';

/** A running example server. */
export interface RunningExample {
  /** Where it listens, with the real port when 0 was asked for. */
  readonly address: { host: string; port: number };
  /** Open client connections. */
  connections(): number;
  /** The server's counters (its `stats()`), when its style has them (not the chat pair's servers). */
  counters?: (() => ConnectionStats) | undefined;
  /** Stop listening and close every connection; resolves once all is closed. */
  close(): Promise<void>;
}

/** Why an example cannot be served as asked (a usage problem, not a crash). */
export class UnsupportedExampleError extends Error {
  /** @example `throw new UnsupportedExampleError('Cannot serve chat in the mixed style: …')` */
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedExampleError';
  }
}

/** Legacy echo (asyncore): `handleRead()` → `recv()` → `send()`, reading paused while behind. */
class LegacyEcho extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(65536);
    if (data.length > 0) this.send(data);
  }
  override readable(): boolean {
    return this.outBufferLength < 64 * 1024;
  }
}

/** Modern echo (asyncio): read, write, drain, until end-of-stream. */
const modernEcho: StreamHandler = async (reader, writer) => {
  for (;;) {
    const data = await reader.read(65536);
    if (data.length === 0) return;
    writer.write(data);
    await writer.drain();
  }
};

function addressOf(address: unknown): { host: string; port: number } {
  if (typeof address === 'object' && address !== null && 'host' in address && 'port' in address) {
    const { host, port } = address;
    if (typeof host === 'string' && typeof port === 'number') return { host, port };
  }
  throw new Error(`Cannot use this address: expected a TCP address, got ${String(address)}`);
}

async function legacyServer(
  Handler: LegacyHandlerClass,
  host: string,
  port: number,
): Promise<RunningExample> {
  const map = new SocketMap();
  class Listener extends Dispatcher {
    override handleAccepted(socket: Duplex): void {
      new Handler({ socket, map: this.map });
    }
  }
  const listener = new Listener({ map });
  try {
    listener.bind({ host, port });
    await listener.listen(511);
  } catch (error) {
    map.closeAll();
    throw error;
  }
  const done = loop({ map });
  return {
    address: addressOf(listener.address()),
    connections: () => Math.max(0, map.size - 1), // every dispatcher but the listener, if open
    counters: () => map.stats(),
    async close() {
      map.closeAll();
      await done;
    },
  };
}

async function modernServer(
  handler: StreamHandler,
  host: string,
  port: number,
  limit?: number,
): Promise<RunningExample> {
  const server = await startServer(handler, { host, port, limit, backlog: 511 });
  // A handler's error closes its connection only; the server reports it here.
  server.on('error', () => undefined);
  return {
    address: addressOf(server.address()),
    connections: () => server.connections,
    counters: () => server.stats(),
    close: () => server.shutdown({ timeout: 0 }),
  };
}

async function mixedServer(
  legacy: LegacyHandlerClass,
  modern: StreamHandler,
  host: string,
  port: number,
  limit?: number,
): Promise<RunningExample> {
  const server = await startMixedServer({
    legacy,
    modern,
    // Every other connection to each side: a client sees no difference.
    route: ({ id }) => (id % 2 === 0 ? 'legacy' : 'modern'),
    host,
    port,
    limit,
    backlog: 511,
  });
  server.on('error', () => undefined);
  return {
    address: addressOf(server.address()),
    connections: () => server.connections,
    counters: () => server.stats(),
    close: () => server.shutdown({ timeout: 0 }),
  };
}

/**
 * Start `example` in `style` on `host`:`port` (0: any free port).
 *
 * @example
 * ```ts
 * const server = await startExample('kv', 'mixed', { host: '127.0.0.1', port: 0 });
 * console.log(`nc ${server.address.host} ${server.address.port}`);
 * await server.close();
 * ```
 */
export async function startExample(
  example: Example,
  style: Style,
  options: { host: string; port: number },
): Promise<RunningExample> {
  const { host, port } = options;
  switch (example) {
    case 'echo':
      if (style === 'legacy') return legacyServer(LegacyEcho, host, port);
      if (style === 'modern') return modernServer(modernEcho, host, port);
      return mixedServer(LegacyEcho, modernEcho, host, port);
    case 'kv': {
      // The migration guide's key-value server (the protocol of its Python originals), whose
      // connections share one store.
      const store = new Store();
      const stats = newStats();
      if (style === 'legacy') return legacyServer(kvChannelClass(store, stats), host, port);
      if (style === 'modern') return modernServer(kvHandler(store, stats), host, port, MAX_LINE);
      return mixedServer(
        kvChannelClass(store, stats),
        kvHandler(store, stats),
        host,
        port,
        MAX_LINE,
      );
    }
    case 'chat':
      if (host !== '127.0.0.1') {
        throw new UnsupportedExampleError(
          `Cannot serve the chat example on ${host}: the chat pair listens on 127.0.0.1 only`,
        );
      }
      if (style === 'legacy') {
        const chat = await startChatLegacy(port);
        // The pair counts `map.size - 1`, which is -1 once the listener has closed too.
        return { ...chat, connections: () => Math.max(0, chat.connections()) };
      }
      if (style === 'modern') return startChatModern(port);
      {
        const { legacy, modern } = mixedChat();
        return mixedServer(legacy, modern, host, port, CHAT_MAX_LINE);
      }
  }
}

/**
 * `serve --shadow`: start `example` with `primary` (`--style`) answering the clients and the
 * other style as its shadow, each with its own data (a shadow that wrote to the primary's store
 * would apply every `SET` twice). `write` gets the divergences and the summaries.
 *
 * @throws {UnsupportedExampleError} For the chat example: what a member receives depends on the
 * other members, so its two styles cannot be compared connection by connection.
 *
 * @example
 * ```ts
 * const server = await startShadowExample('kv', 'legacy', { host: '127.0.0.1', port: 0 }, write);
 * await server.close(); // prints the last summary
 * ```
 */
export async function startShadowExample(
  example: Example,
  primary: 'legacy' | 'modern',
  options: { host: string; port: number; summaryEvery?: number | undefined },
  write: (text: string) => void,
): Promise<ShadowedExample> {
  const { host, port, summaryEvery } = options;
  switch (example) {
    case 'echo':
      return startShadowed(
        { legacy: LegacyEcho, modern: modernEcho, primary, host, port, summaryEvery },
        write,
      );
    case 'kv': {
      const stats = newStats();
      return startShadowed(
        {
          legacy: kvChannelClass(new Store(), stats),
          modern: kvHandler(new Store(), stats),
          primary,
          host,
          port,
          limit: MAX_LINE,
          summaryEvery,
        },
        write,
      );
    }
    case 'chat':
      throw new UnsupportedExampleError(
        'Cannot serve the chat example with --shadow: what a member receives depends on the other members, so the two styles cannot be compared connection by connection (try --example echo or kv)',
      );
  }
}
