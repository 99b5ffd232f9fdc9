/**
 * Line chat with broadcast, legacy style (asynchat). Compare with `chat-modern.ts`.
 *
 * Protocol (one message per line, "\n"-terminated; a trailing "\r" is ignored):
 * - on connect you get `* welcome userN`; the others get `* userN joined`;
 * - a line of text goes to everyone else as `<userN> text`;
 * - `/quit` answers `* bye` and closes; the others get `* userN left`.
 *
 * A slow client (one that does not read) must not make the server's memory grow without bound:
 * when its output queue passes a bound, it is disconnected (IRC servers call this "SendQ
 * exceeded"). The other clients are not slowed down by it.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { AsyncChat, Dispatcher, LimitOverrunError, SocketMap, loop } from 'dispatch-bridge/legacy';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

/** The longest line accepted, in bytes: a longer one closes the connection. */
export const MAX_LINE = 1024;
/** Messages queued for one client (not yet taken by its socket) before it is disconnected. */
export const MAX_BACKLOG_MESSAGES = 256;

/** What the chat server's connections share: numbers for the tests. */
class Room {
  nextId = 1;
  kicked = 0;
  /** The longest output queue seen, in messages. */
  peakBacklog = 0;
  /** Set by close(): nobody is told who leaves while everyone is leaving. */
  closing = false;
}

/** One connected client, framed by "\n". */
class ChatHandler extends AsyncChat {
  readonly name: string;
  #parts: Buffer[] = [];

  constructor(
    socket: Duplex,
    map: SocketMap,
    readonly room: Room,
  ) {
    // maxIncoming bounds what is collected while waiting for "\n".
    super({ socket, map, maxIncoming: MAX_LINE });
    this.name = `user${room.nextId++}`;
    this.setTerminator('\n');
    this.push(`* welcome ${this.name}\n`);
    this.broadcast(`* ${this.name} joined`);
  }

  /**
   * asyncore's idiom: push `line` to every other chat in the map. A chat whose queue passes the
   * bound is disconnected: that is what keeps memory bounded when a client does not read.
   */
  broadcast(line: string): void {
    const room = this.room;
    if (room.closing) return;
    for (const channel of this.map) {
      if (!(channel instanceof ChatHandler) || channel === this) continue;
      channel.push(`${line}\n`);
      const backlog = channel.outgoingQueueLength; // asynchat's queue counts messages, not bytes
      if (backlog > room.peakBacklog) room.peakBacklog = backlog;
      if (backlog > MAX_BACKLOG_MESSAGES) {
        room.kicked++;
        channel.discardBuffers(); // drop its queue: that is the memory we are protecting
        channel.socket?.destroy(); // no graceful goodbye: it would never be read
        channel.close(); // runs its handleClose(): the others are told it left
      }
    }
  }

  // asynchat hands over the bytes of a line in pieces, then calls foundTerminator().
  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }

  override foundTerminator(): void {
    let line = Buffer.concat(this.#parts.splice(0)).toString('utf8');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '/quit') {
      this.push('* bye\n');
      this.closeWhenDone(); // close once everything queued has been sent
    } else if (line.length > 0) {
      this.broadcast(`<${this.name}> ${line}`);
    }
  }

  // Runs exactly once, however the connection ends (quit, peer gone, error, kicked).
  override handleClose(): void {
    this.broadcast(`* ${this.name} left`);
    this.close(); // leaves the map
  }

  // A line longer than MAX_LINE lands here as a LimitOverrunError: close without logging noise.
  // Anything else is a bug: the default logs it, then closes.
  override handleError(error: unknown): void {
    if (error instanceof LimitOverrunError) this.close();
    else super.handleError(error);
  }
}

class ChatServer extends Dispatcher {
  readonly room = new Room();

  override handleAccepted(socket: Duplex): void {
    new ChatHandler(socket, this.map, this.room);
  }
}

/** A running chat server, with numbers the tests check. */
export interface RunningChat extends RunningServer {
  /** Connected clients, clients disconnected for being slow, longest queue seen (in messages). */
  stats(): { members: number; kicked: number; peakBacklog: number };
}

/**
 * Start the legacy chat server on 127.0.0.1 (port 0: any free port).
 *
 * @example
 * ```ts
 * const chat = await startChatLegacy();
 * await chat.close();
 * ```
 */
export async function startChatLegacy(port = 0): Promise<RunningChat> {
  const map = new SocketMap();
  const server = new ChatServer({ map });
  server.bind({ host: '127.0.0.1', port });
  await server.listen();
  const done = loop({ map });
  const address = tcpAddress(server.address());
  const { room } = server;
  return {
    address,
    port: address.port,
    connections: () => map.size - 1, // every dispatcher but the listener
    stats: () => ({
      members: [...map].filter((channel) => channel instanceof ChatHandler).length,
      kicked: room.kicked,
      peakBacklog: room.peakBacklog,
    }),
    async close() {
      room.closing = true;
      map.closeAll();
      await done;
    },
  };
}

runIfMain(import.meta.url, startChatLegacy, 'type a line to send it to the others; /quit');
