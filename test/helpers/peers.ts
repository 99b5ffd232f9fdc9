// Hostile and awkward peers for the lifecycle tests, over loopback: each connects with a raw
// node:net socket and behaves as a real client would at the edges of a connection's life.
import { readdirSync } from 'node:fs';
import net from 'node:net';

/** How many file descriptors this process holds. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A plain loopback server (127.0.0.1), listening: its port and its first accepted socket. */
export async function loopbackServer(): Promise<{
  server: net.Server;
  port: number;
  accepted: Promise<net.Socket>;
}> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port, accepted };
}

/** Polls `check` every 10 ms until it returns true, for at most `ms`; false on time-out. */
export async function within(ms: number, check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface SlowReaderResult {
  /** Bytes received before end-of-stream or the error. */
  received: number;
  /** The socket error, if the connection ended with one (a reset). */
  error: NodeJS.ErrnoException | undefined;
}

/**
 * A client that sends `send` bytes (which the server may never read), then waits `delay` ms
 * before it reads anything, then reads to the end. A close that resets instead of lingering
 * shows up as a short `received` and an ECONNRESET `error`.
 */
export function slowReader(
  port: number,
  options: { send: number; delay: number; host?: string; line?: string },
): Promise<SlowReaderResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: options.host ?? '127.0.0.1', port });
    let received = 0;
    let error: NodeJS.ErrnoException | undefined;
    socket.pause();
    socket.on('connect', () => {
      if (options.line !== undefined) socket.write(options.line);
      if (options.send > 0) socket.write(Buffer.alloc(options.send, 0x78));
      setTimeout(() => socket.resume(), options.delay);
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
    // A polite client: once the server ended its side, it ends its own.
    socket.on('end', () => socket.end());
    socket.on('close', () => resolve({ received, error }));
  });
}

/**
 * A TLS client that gives up halfway through the handshake: it sends the first bytes of a
 * ClientHello, then its FIN (or a reset with `reset`). Resolves once its socket closed.
 */
export function halfHandshake(port: number, reset = false): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa0, 0x01, 0x00]));
      if (reset) setImmediate(() => socket.resetAndDestroy());
      else socket.end();
    });
    socket.resume();
    socket.on('close', () => resolve());
  });
}

/** A client that connects and never reads: resolves with the socket once connected. */
export function neverReads(port: number, request?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.pause();
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.off('error', reject);
      if (request !== undefined) socket.write(request);
      resolve(socket);
    });
  });
}
