/**
 * The line chat of the migration guide's teaching pair (`chat-legacy.ts` / `chat-modern.ts`, same
 * protocol, same limits) for the mixed style: one room shared by a legacy AsyncChat class and a
 * modern handler, so that members served by either implementation talk to each other. The pair's
 * own servers each keep their room inside, which is why this small bridge exists.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { AsyncChat, LimitOverrunError, type SocketMap } from '../src/legacy/index.js';
import type { StreamHandler } from '../src/modern/index.js';
import type { LegacyHandlerClass } from '../src/adapter/index.js';
import { MAX_BACKLOG_MESSAGES, MAX_LINE } from '../migration-guide/examples/pairs/chat-legacy.js';
import { MAX_BACKLOG_BYTES } from '../migration-guide/examples/pairs/chat-modern.js';

/** One member, whichever implementation serves it. */
interface Member {
  readonly name: string;
  /** Queue `line` + "\n" for this member; a member too far behind is disconnected. */
  tell(line: string): void;
}

/** The shared room. */
class Room {
  readonly members = new Set<Member>();
  #nextId = 1;

  nextName(): string {
    return `user${this.#nextId++}`;
  }

  broadcast(line: string, except: Member): void {
    for (const member of this.members) if (member !== except) member.tell(line);
  }
}

/** The raw line without "\n" and a trailing "\r". */
function text(raw: Buffer): string {
  let line = raw.toString('utf8');
  if (line.endsWith('\n')) line = line.slice(0, -1);
  if (line.endsWith('\r')) line = line.slice(0, -1);
  return line;
}

/**
 * A legacy handler class and a modern handler sharing one chat room, for `startMixedServer`.
 *
 * @example
 * ```ts
 * const { legacy, modern } = mixedChat();
 * await startMixedServer({ legacy, modern, route: 'legacy', port: 0, limit: MAX_LINE });
 * ```
 */
export function mixedChat(): {
  legacy: LegacyHandlerClass;
  modern: StreamHandler;
  members(): number;
} {
  const room = new Room();

  class LegacyChat extends AsyncChat implements Member {
    readonly name = room.nextName();
    #parts: Buffer[] = [];

    constructor(options: { socket: Duplex; map: SocketMap }) {
      super({ socket: options.socket, map: options.map, maxIncoming: MAX_LINE });
      this.setTerminator('\n');
      this.push(`* welcome ${this.name}\n`);
      room.broadcast(`* ${this.name} joined`, this);
      room.members.add(this);
    }

    tell(line: string): void {
      this.push(`${line}\n`);
      if (this.outgoingQueueLength > MAX_BACKLOG_MESSAGES) {
        this.discardBuffers();
        this.socket?.destroy();
        this.close();
        this.#leave();
      }
    }

    override collectIncomingData(data: Buffer): void {
      this.#parts.push(data);
    }

    override foundTerminator(): void {
      const line = text(Buffer.concat(this.#parts.splice(0)));
      if (line === '/quit') {
        this.push('* bye\n');
        this.closeWhenDone();
      } else if (line.length > 0) room.broadcast(`<${this.name}> ${line}`, this);
    }

    override handleClose(): void {
      this.#leave();
      this.close();
    }

    override handleError(error: unknown): void {
      if (error instanceof LimitOverrunError) this.handleClose();
      else super.handleError(error);
    }

    #leave(): void {
      if (room.members.delete(this)) room.broadcast(`* ${this.name} left`, this);
    }
  }

  const modern: StreamHandler = async (reader, writer) => {
    const me: Member = {
      name: room.nextName(),
      tell(line) {
        if (writer.isClosing()) return;
        writer.write(`${line}\n`);
        if (writer.bufferedLength > MAX_BACKLOG_BYTES) writer.abort();
      },
    };
    writer.write(`* welcome ${me.name}\n`);
    room.broadcast(`* ${me.name} joined`, me);
    room.members.add(me);
    try {
      for (;;) {
        const raw = await reader.readLine(); // LimitOverrunError past MAX_LINE: the connection closes
        if (raw.length === 0) return;
        const line = text(raw);
        if (line === '/quit') {
          writer.write('* bye\n');
          await writer.drain();
          return;
        }
        if (line.length > 0) room.broadcast(`<${me.name}> ${line}`, me);
      }
    } finally {
      if (room.members.delete(me)) room.broadcast(`* ${me.name} left`, me);
    }
  };

  return { legacy: LegacyChat, modern, members: () => room.members.size };
}
