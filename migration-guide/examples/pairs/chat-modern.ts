/**
 * Line chat with broadcast, modern style (asyncio streams). Compare with `chat-legacy.ts`: same
 * protocol, same answers.
 *
 * Each connection is one async function: announce, then a `readLine()` loop. Broadcasting writes
 * to the other clients' writers WITHOUT awaiting their `drain()`: one slow client must not stall
 * the sender (and through it everyone). Instead each writer's backlog is checked, and a client
 * that falls too far behind is disconnected, so memory stays bounded.
 *
 * @module
 */
import process from 'node:process';
import {
  ConnectionClosedError,
  LimitOverrunError,
  startServer,
  type ConnectionContext,
  type StreamReader,
  type StreamWriter,
} from 'dispatch-bridge/modern';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

/** The longest line accepted, in bytes: a longer one closes the connection. */
export const MAX_LINE = 1024;
/** Bytes written to one client and not yet taken by the OS before it is disconnected. */
export const MAX_BACKLOG_BYTES = 256 * 1024;

interface Member {
  name: string;
  writer: StreamWriter;
}

/**
 * Start the modern chat server on 127.0.0.1 (port 0: any free port).
 *
 * @example
 * ```ts
 * const chat = await startChatModern();
 * await chat.close();
 * ```
 */
export async function startChatModern(port = 0): Promise<RunningChat> {
  const members = new Set<Member>();
  let kicked = 0;
  let peakBacklog = 0;

  function broadcast(line: string, except?: Member): void {
    for (const member of members) {
      if (member === except || member.writer.isClosing()) continue;
      member.writer.write(`${line}\n`);
      const backlog = member.writer.bufferedLength; // bytes, gathered or queued in the socket
      if (backlog > peakBacklog) peakBacklog = backlog;
      if (backlog > MAX_BACKLOG_BYTES) {
        kicked++;
        member.writer.abort(); // drop its queue and cut the connection; its handler says "left"
      }
    }
  }

  async function chat(
    reader: StreamReader,
    writer: StreamWriter,
    context: ConnectionContext,
  ): Promise<void> {
    const me: Member = { name: `user${context.id}`, writer };
    writer.write(`* welcome ${me.name}\n`);
    broadcast(`* ${me.name} joined`);
    members.add(me);
    try {
      for (;;) {
        // Rejects with LimitOverrunError past MAX_LINE (the `limit` below): the server then
        // closes this connection, as the legacy maxIncoming does.
        const raw = await reader.readLine();
        if (raw.length === 0) return; // end-of-stream
        let line = raw.toString('utf8').replace(/\n$/, '');
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '/quit') {
          writer.write('* bye\n');
          await writer.drain(); // then returning closes the connection (closeWhenDone)
          return;
        }
        if (line.length > 0) broadcast(`<${me.name}> ${line}`, me);
      }
    } finally {
      // Runs however the connection ends, like handleClose().
      if (members.delete(me)) broadcast(`* ${me.name} left`);
    }
  }

  const server = await startServer(chat, { host: '127.0.0.1', port, limit: MAX_LINE });
  // A too-long line or a lost connection rejects the handler: the server closes that connection
  // and reports it here; it is not a crash.
  server.on('error', (error) => {
    if (error instanceof LimitOverrunError || error instanceof ConnectionClosedError) return;
    process.stderr.write(`chat: ${String(error)}\n`);
  });
  const address = tcpAddress(server.address());
  return {
    address,
    port: address.port,
    connections: () => server.connections,
    stats: () => ({ members: members.size, kicked, peakBacklog }),
    async close() {
      members.clear();
      await server.shutdown({ timeout: 0 });
    },
  };
}

/** A running chat server, with numbers the tests check. */
export interface RunningChat extends RunningServer {
  /** Connected clients, clients disconnected for being slow, largest backlog seen (in bytes). */
  stats(): { members: number; kicked: number; peakBacklog: number };
}

runIfMain(import.meta.url, startChatModern, 'type a line to send it to the others; /quit');
