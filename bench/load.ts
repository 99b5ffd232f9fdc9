// The load client: drives an echo server over loopback with plain `node:net` sockets, so that the
// client costs the same whatever server it measures.
import net from 'node:net';

/** What a ping-pong run did. */
export interface PingPongResult {
  messages: number;
  elapsedMs: number;
  /** Replies whose bytes differed from what was sent. */
  mismatches: number;
}

/**
 * `connections` clients each send `messages` lines of `size` bytes (newline included), one at a
 * time, and wait for each echo before sending the next.
 */
export async function pingPong(options: {
  port: number;
  connections: number;
  messages: number;
  size: number;
  /** Send a PROXY protocol v1 header first on each connection (for `proxyProtocol` servers). */
  proxyHeader?: 'v1' | undefined;
}): Promise<PingPongResult> {
  const { port, connections, messages, size, proxyHeader } = options;
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: connections }, (_, index) =>
      oneClient(port, index, messages, size, proxyHeader),
    ),
  );
  const elapsedMs = performance.now() - started;
  return {
    messages: results.reduce((sum, r) => sum + r.messages, 0),
    mismatches: results.reduce((sum, r) => sum + r.mismatches, 0),
    elapsedMs,
  };
}

function line(index: number, size: number): Buffer {
  const text = `client ${index} `.padEnd(size - 1, '.').slice(0, size - 1) + '\n';
  return Buffer.from(text);
}

/** A PROXY v1 header for `socket` (its real addresses: loopback, a trusted proxy by default). */
function proxyV1Header(socket: net.Socket, port: number): string {
  return `PROXY TCP4 127.0.0.1 127.0.0.1 ${socket.localPort ?? 0} ${port}\r\n`;
}

function oneClient(
  port: number,
  index: number,
  messages: number,
  size: number,
  proxyHeader: 'v1' | undefined,
): Promise<{ messages: number; mismatches: number }> {
  return new Promise((resolve, reject) => {
    const payload = line(index, size);
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let done = 0;
    let mismatches = 0;
    let pending: Buffer[] = [];
    let pendingLength = 0;
    socket.on('connect', () => {
      if (proxyHeader === 'v1') socket.write(proxyV1Header(socket, port));
      socket.write(payload);
    });
    socket.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      pendingLength += chunk.length;
      while (pendingLength >= size) {
        const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        if (!all.subarray(0, size).equals(payload)) mismatches += 1;
        const rest = all.subarray(size);
        pending = rest.length > 0 ? [rest] : [];
        pendingLength = rest.length;
        done += 1;
        if (done === messages) {
          socket.end();
          return;
        }
        socket.write(payload);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (done === messages) resolve({ messages: done, mismatches });
      else reject(new Error(`Connection ${index} closed after ${done} of ${messages} replies`));
    });
  });
}

/** What a bulk run did. */
export interface BulkResult {
  bytes: number;
  elapsedMs: number;
  mismatches: number;
}

/**
 * One connection sends `bytes` bytes of lines in `chunkSize` writes (respecting backpressure) and
 * reads the echo back; the run ends when every byte has returned.
 */
export function bulk(options: {
  port: number;
  bytes: number;
  chunkSize: number;
  /** Send a PROXY protocol v1 header first (for `proxyProtocol` servers). */
  proxyHeader?: 'v1' | undefined;
}): Promise<BulkResult> {
  const { port, bytes, chunkSize, proxyHeader } = options;
  // A chunk of 63-byte lines, so line servers echo it too.
  const unit = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n');
  const chunk = Buffer.alloc(chunkSize);
  for (let offset = 0; offset < chunkSize; offset += unit.length) unit.copy(chunk, offset);
  const total = Math.floor(bytes / chunkSize) * chunkSize;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    let sent = 0;
    let received = 0;
    let mismatches = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += chunkSize;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('connect', () => {
      if (proxyHeader === 'v1') socket.write(proxyV1Header(socket, port));
      pump();
    });
    socket.on('data', (data: Buffer) => {
      // Spot-check the bytes: every byte at stream offset o must be unit[o % unit.length].
      const at = received % unit.length;
      if (data[0] !== unit[at]) mismatches += 1;
      received += data.length;
      if (received >= total) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (received === total)
        resolve({ bytes: total, elapsedMs: performance.now() - started, mismatches });
      else reject(new Error(`Bulk connection closed after ${received} of ${total} bytes`));
    });
  });
}
