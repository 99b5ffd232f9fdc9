/**
 * A TCP proxy with backpressure, legacy style (asyncore). Compare with `proxy-modern.ts`.
 *
 * Each client connection gets two dispatchers joined as peers: one for the client's socket, one
 * for a connection to the target. What one reads, its peer sends. Backpressure is the classic
 * asyncore trick: a side is `readable()` only while its peer's out buffer has room, so a slow
 * reader at one end stops the proxy from reading the other end, and TCP slows that end down.
 * When either end closes, the other side is closed once its out buffer is flushed.
 *
 * @module
 */
import process from 'node:process';
import type { Duplex } from 'node:stream';
import { Dispatcher, DispatcherWithSend, SocketMap, loop } from 'dispatch-bridge/legacy';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

/** Bytes a side may hold for its peer before the peer stops reading. */
export const MAX_PENDING = 64 * 1024;

/** One end of a proxied connection; `peer` is the other end. */
class ProxySide extends DispatcherWithSend {
  peer: ProxySide | null = null;
  /** True for the client's end, false for the target's. */
  readonly isClient: boolean;
  #closeWhenFlushed = false;

  constructor(
    options: { socket?: Duplex; map: SocketMap },
    readonly sides: Set<ProxySide>,
  ) {
    super(options);
    this.isClient = options.socket !== undefined;
    sides.add(this);
  }

  // The backpressure rule: read only while the peer can buffer what we would pass on.
  override readable(): boolean {
    return this.peer !== null && this.peer.outBufferLength < MAX_PENDING;
  }

  override handleRead(): void {
    const data = this.recv(16384); // at end-of-stream: empty, and handleClose() runs
    if (data.length > 0) this.peer?.send(data); // buffered by DispatcherWithSend if need be
  }

  override handleConnect(): void {} // the target accepted: handleWrite() now flushes

  override writable(): boolean {
    return super.writable() || this.#closeWhenFlushed;
  }

  override handleWrite(): void {
    super.handleWrite();
    // Our buffer has room again: the peer's readable() depends on it, so ask the loop to look
    // at the peer now (asyncore asked every dispatcher every round; our loop asks the ones with
    // events of their own, and everyone every few ms).
    if (this.outBufferLength < MAX_PENDING) this.peer?.wake();
    if (this.#closeWhenFlushed && this.outBufferLength === 0) this.close();
  }

  /** Close after what is buffered for this side has been sent. */
  closeWhenFlushed(): void {
    this.#closeWhenFlushed = true;
    if (this.outBufferLength === 0) this.close();
  }

  // Runs once per side, however it ends: take the peer down too, gently.
  override handleClose(): void {
    this.sides.delete(this);
    this.close();
    this.peer?.closeWhenFlushed();
  }
}

class ProxyServer extends Dispatcher {
  readonly sides = new Set<ProxySide>();

  constructor(
    map: SocketMap,
    readonly target: { host: string; port: number },
  ) {
    super({ map });
  }

  override handleAccepted(socket: Duplex): void {
    const client = new ProxySide({ socket, map: this.map }, this.sides);
    const upstream = new ProxySide({ map: this.map }, this.sides);
    client.peer = upstream;
    upstream.peer = client;
    upstream.connect(this.target); // until connected, what the client sends waits in its buffer
  }
}

/** A running proxy, with what the tests measure. */
export interface RunningProxy extends RunningServer {
  /** Bytes the proxy holds right now, over all connections (its buffers and its sockets'). */
  buffered(): number;
  /** Whether some side currently does not read because its peer cannot take more. */
  paused(): boolean;
}

/**
 * Start the legacy proxy on 127.0.0.1, forwarding every connection to `target`.
 *
 * @example
 * ```ts
 * const proxy = await startProxyLegacy({ host: '127.0.0.1', port: 8080 });
 * await proxy.close();
 * ```
 */
export async function startProxyLegacy(
  target: { host: string; port: number },
  port = 0,
): Promise<RunningProxy> {
  const map = new SocketMap();
  const server = new ProxyServer(map, target);
  server.bind({ host: '127.0.0.1', port });
  await server.listen();
  const done = loop({ map });
  const address = tcpAddress(server.address());
  const { sides } = server;
  return {
    address,
    port: address.port,
    connections: () => [...sides].filter((side) => side.isClient).length,
    buffered() {
      let total = 0;
      for (const side of sides) {
        const socket = side.socket;
        total += side.outBufferLength;
        if (socket !== null) total += socket.readableLength + socket.writableLength;
      }
      return total;
    },
    paused: () => [...sides].some((side) => side.connected && !side.readable()),
    async close() {
      map.closeAll();
      await done;
    },
  };
}

runIfMain(
  import.meta.url,
  () => startProxyLegacy({ host: '127.0.0.1', port: Number(process.env.TARGET_PORT ?? 7) }),
  'forwarding to 127.0.0.1:$TARGET_PORT',
);
