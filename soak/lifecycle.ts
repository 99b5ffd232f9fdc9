// The lifecycle attacks of `npm run soak`: a half-closing client that reads late, and a storm of
// TLS clients that give up halfway through the handshake. Each returns what it saw; soak/run.ts
// records it. Loopback only, bounded in count and time.
import { readFileSync } from 'node:fs';
import net from 'node:net';

import { setTimeout as sleep } from 'node:timers/promises';
import { startMixedServer } from '../src/adapter/index.js';
import { openConnection, startServer } from '../src/modern/index.js';
import { echo, LineEcho } from './_echo.js';
import { openFds } from './servers.js';

const HOST = '127.0.0.1';
const fixtures = new URL('../test/fixtures/', import.meta.url);
const cert = readFileSync(new URL('localhost-cert.pem', fixtures));
const key = readFileSync(new URL('localhost-key.pem', fixtures));

/**
 * Sends `lines` lines, shuts down its write side, waits `delay` ms, then reads: counts the
 * replies that arrive before the server's end-of-stream.
 */
export function halfCloseReader(port: number, lines: number, delay: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port, allowHalfOpen: true });
    let replies = 0;
    socket.pause();
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.end(`${'x'.repeat(31)}\n`.repeat(lines));
      setTimeout(() => socket.resume(), delay);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 0x0a) replies++;
    });
    socket.on('close', () => resolve(replies));
  });
}

/** A client that sends half a ClientHello, then a FIN or a reset. */
function giveUp(port: number, reset: boolean): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]));
      if (reset) setImmediate(() => socket.resetAndDestroy());
      else socket.end();
    });
    socket.resume();
    socket.on('close', () => resolve());
  });
}

export interface StormResult {
  fdsBefore: number;
  fdsAfter: number;
  /** An honest TLS client was served after the storm. */
  served: boolean;
}

/** `clients` failed handshakes (half FIN, half reset, `parallel` at a time) against a TLS server. */
export async function tlsStorm(
  kind: 'modern' | 'mixed',
  clients: number,
  parallel = 100,
): Promise<StormResult> {
  const options = { host: HOST, port: 0, tls: { key, cert } };
  const server =
    kind === 'modern'
      ? await startServer(echo, options)
      : await startMixedServer({ ...options, legacy: LineEcho, modern: echo, route: 'legacy' });
  try {
    const port = (server.address() as { port: number }).port;
    await sleep(50);
    const fdsBefore = await openFds();
    for (let sent = 0; sent < clients; sent += parallel) {
      const wave: Promise<void>[] = [];
      for (let i = sent; i < Math.min(clients, sent + parallel); i++)
        wave.push(giveUp(port, i % 2 === 1));
      await Promise.all(wave);
    }
    // Within a few seconds of the clients leaving, the server holds no fd of theirs.
    const deadline = Date.now() + 3_000;
    let fdsAfter = await openFds();
    while (fdsAfter > fdsBefore && Date.now() < deadline) {
      await sleep(50);
      fdsAfter = await openFds();
    }
    const pair = await openConnection({
      host: 'localhost',
      port,
      tls: { ca: cert },
      timeout: 5_000,
    });
    pair.writer.write('hello\n');
    const served = (await pair.reader.readLine()).toString() === 'hello\n';
    pair.writer.close();
    await pair.writer.waitClosed();
    return { fdsBefore, fdsAfter, served };
  } finally {
    await server.shutdown({ timeout: 1_000 });
  }
}

/** The kinds of server {@link halfCloseServer} starts: the legacy paths are the ones at risk. */
export const HALF_CLOSE_KINDS = ['legacy', 'modern', 'mixed-legacy', 'mixed-modern'] as const;

/** Starts a line echo of `kind`; returns its port and a close function. */
export async function halfCloseServer(
  kind: (typeof HALF_CLOSE_KINDS)[number],
): Promise<{ port: number; close(): Promise<void> }> {
  if (kind === 'modern') {
    const server = await startServer(echo, { host: HOST, port: 0 });
    return {
      port: (server.address() as { port: number }).port,
      close: () => server.shutdown({ timeout: 1_000 }),
    };
  }
  if (kind === 'legacy') {
    const { Dispatcher, SocketMap, loop } = await import('../src/legacy/index.js');
    const map = new SocketMap();
    class Listener extends Dispatcher {
      override handleAccepted(socket: import('node:stream').Duplex): void {
        new LineEcho({ socket, map: this.map });
      }
    }
    const listener = new Listener({ map });
    listener.bind({ host: HOST, port: 0 });
    await listener.listen();
    const running = loop({ map });
    return {
      port: (listener.address() as { port: number }).port,
      async close() {
        map.closeAll();
        await running;
      },
    };
  }
  const server = await startMixedServer({
    host: HOST,
    port: 0,
    legacy: LineEcho,
    modern: echo,
    route: kind === 'mixed-legacy' ? 'legacy' : 'modern',
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => server.shutdown({ timeout: 1_000 }),
  };
}
