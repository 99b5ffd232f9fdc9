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
import {
  AsyncChat,
  Dispatcher,
  LimitOverrunError,
  SocketMap,
  loop,
} from '../../../src/legacy/index.js';
import { runIfMain, tcpAddress, type RunningServer } from './_run.js';

/** The longest line accepted, in bytes: a longer one closes the connection. */
export const MAX_LINE = 1024;
/** Messages queued for one client (not yet taken by its socket) before it is disconnected. */
export const MAX_BACKLOG_MESSAGES = 256;

/** What the chat server shares between its connections. */
class Room {
  readonly members = new Set<ChatHandler>();
  nextId = 1;
  kicked = 0;
  /** The longest output queue seen, in messages (for the tests). */
  peakBacklog = 0;

  /** Send `line` to every member but `except`; disconnect the ones that do not keep up. */
  broadcast(line: string, except?: ChatHandler): void {
    for (const member of this.members) {
      if (member === except) continue;
      member.push(`${line}\n`);
      const backlog = member.outgoingQueueLength; // asynchat's queue counts messages, not bytes
      if (backlog > this.peakBacklog) this.peakBacklog = backlog;
      if (backlog > MAX_BACKLOG_MESSAGES) {
        this.kicked++;
        member.discardBuffers(); // drop its queue: that is the memory we are protecting
        member.socket?.destroy(); // no graceful goodbye: it would never be read
        member.close(); // runs handleClose(): it leaves the room, the others are told
      }
    }
  }
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
    room.broadcast(`* ${this.name} joined`);
    room.members.add(this);
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
      this.room.broadcast(`<${this.name}> ${line}`, this);
    }
  }

  // Runs exactly once, however the connection ends (quit, peer gone, error, kicked).
  override handleClose(): void {
    if (this.room.members.delete(this)) this.room.broadcast(`* ${this.name} left`);
    this.close();
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
      members: room.members.size,
      kicked: room.kicked,
      peakBacklog: room.peakBacklog,
    }),
    async close() {
      room.members.clear(); // nobody to tell: everyone is leaving
      map.closeAll();
      await done;
    },
  };
}

runIfMain(import.meta.url, startChatLegacy, 'type a line to send it to the others; /quit');
