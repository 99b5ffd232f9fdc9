/**
 * A line-chat server written in the legacy (asyncore/asynchat) style. In a clone, run it with
 * `node --import ./scripts/ts-register.mjs examples/echo-chat-server.ts` (`npm start` runs the
 * demo instead, see the README); import {@link startChatServer} to embed it.
 *
 * Connect with `nc 127.0.0.1 PORT` (one client per terminal). The protocol is one line per
 * message, ended by "\n" (a trailing "\r" is ignored):
 *
 * - any text: echoed back to you and broadcast to everyone else as `<nick> text`
 * - `/nick NAME`: change your nick (1-32 letters, digits, `_` or `-`); everyone sees `* old is now NAME`
 * - `/who`: list who is connected
 * - `/quit`: the server says `* bye` and closes your connection
 *
 * Lines longer than 4096 bytes close the connection (AsyncChat `maxIncoming`). The server listens
 * on 127.0.0.1, port `PORT` from the environment (default 0: any free port), and stops cleanly
 * on Ctrl+C (SIGINT) or SIGTERM.
 *
 * @module
 */
import process from 'node:process';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  AsyncChat,
  Dispatcher,
  SocketMap,
  loop,
  type Address,
  type LogType,
} from 'dispatch-bridge/legacy';

/** Options of {@link startChatServer}. */
export interface ChatServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Where log lines go. Default: stderr. */
  log?: (line: string) => void;
}

/** A running chat server. */
export interface ChatServer {
  /** The address it listens on (with the real port). */
  readonly address: { host: string; port: number };
  /** How many clients are connected. */
  readonly clients: number;
  /** Stop: close the listener and every connection. `done` resolves afterwards. */
  close(): void;
  /** Resolves when the server's loop has ended. */
  readonly done: Promise<void>;
}

const MAX_LINE = 4096;
const NICK = /^[\w-]{1,32}$/;

class Room {
  readonly members = new Set<ChatClient>();
  #nextGuest = 1;

  constructor(readonly log: (line: string) => void) {}

  guestName(): string {
    return `guest${this.#nextGuest++}`;
  }

  broadcast(line: string, except?: ChatClient): void {
    for (const member of this.members) if (member !== except) member.push(`${line}\n`);
  }
}

/** One connected client: an AsyncChat framed by "\n". */
class ChatClient extends AsyncChat {
  nick: string;
  readonly #room: Room;
  #parts: Buffer[] = [];

  constructor(socket: Duplex, map: SocketMap, room: Room) {
    super({ socket, map, maxIncoming: MAX_LINE });
    this.#room = room;
    this.nick = room.guestName();
    this.setTerminator('\n');
    room.broadcast(`* ${this.nick} joined`);
    room.members.add(this);
    this.push(`* welcome ${this.nick}; commands: /nick NAME, /who, /quit\n`);
  }

  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }

  override foundTerminator(): void {
    const raw = Buffer.concat(this.#parts.splice(0)).toString('utf8');
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '/quit') {
      this.push('* bye\n');
      this.closeWhenDone();
    } else if (line === '/who') {
      this.push(`* here: ${[...this.#room.members].map((m) => m.nick).join(', ')}\n`);
    } else if (line.startsWith('/nick ')) {
      const nick = line.slice(6).trim();
      if (!NICK.test(nick)) {
        this.push('* a nick is 1-32 letters, digits, _ or -\n');
        return;
      }
      this.#room.broadcast(`* ${this.nick} is now ${nick}`);
      this.nick = nick;
    } else if (line.length > 0) {
      this.#room.broadcast(`<${this.nick}> ${line}`);
    }
  }

  override handleClose(): void {
    if (this.#room.members.delete(this)) this.#room.broadcast(`* ${this.nick} left`);
    this.close();
  }

  override logInfo(message: string, type: LogType = 'info'): void {
    this.#room.log(`${type}: ${this.nick}: ${message.split('\n')[0] ?? ''}`);
  }
}

/** The listening dispatcher: each accepted connection becomes a ChatClient. */
class ChatListener extends Dispatcher {
  constructor(
    map: SocketMap,
    readonly room: Room,
  ) {
    super({ map });
  }

  override handleAccepted(socket: Duplex, _address: Address): void {
    new ChatClient(socket, this.map, this.room);
  }

  override logInfo(message: string, type: LogType = 'info'): void {
    this.room.log(`${type}: listener: ${message}`);
  }
}

/**
 * Start the chat server on its own map and loop.
 *
 * @example
 * ```ts
 * const server = await startChatServer({ port: 0 });
 * console.log(server.address.port);
 * server.close();
 * await server.done;
 * ```
 */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const map = new SocketMap();
  const room = new Room(options.log ?? ((line) => process.stderr.write(`${line}\n`)));
  const listener = new ChatListener(map, room);
  listener.bind({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  await listener.listen();
  const address = listener.address() as { host: string; port: number };
  const done = loop({ map });
  return {
    address,
    get clients() {
      return room.members.size;
    },
    close() {
      room.members.clear();
      map.closeAll();
    },
    done,
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Expected \`PORT\` to be a port number, got \`${process.env.PORT}\``);
  }
  const server = await startChatServer({ port });
  const { host, port: actual } = server.address;
  process.stdout.write(
    `dispatch-bridge legacy chat server listening on ${host}:${actual}\n` +
      `connect with: nc ${host} ${actual}   (commands: /nick NAME, /who, /quit; Ctrl+C stops)\n`,
  );
  const stop = (signal: string): void => {
    process.stdout.write(`\n${signal}: closing ${server.clients} connection(s) and stopping\n`);
    server.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await server.done;
  process.removeListener('SIGINT', stop);
  process.removeListener('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
