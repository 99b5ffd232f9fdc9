/**
 * The key-value server's connection handler, legacy style: an asynchat channel (`AsyncChat`)
 * with one method per command, a producer that streams `DUMP`, and `closeWhenDone()` for `QUIT`.
 * Steps 0, 1 and 2 use it unchanged; step 3 no longer needs it. The protocol is in `_kv.ts`.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { AsyncChat, type Producer, type SocketMap } from 'dispatch-bridge/legacy';
import {
  DUMP_PIECE,
  MAX_LINE,
  TOO_LONG,
  checkCommand,
  parseLine,
  type KvStats,
  type Store,
} from './_kv.js';

/**
 * Streams `DUMP`: asynchat calls `more()` only when the previous piece has been sent, so a client
 * that reads slowly makes the dump wait (and the server holds one piece, not the whole dump).
 */
class DumpProducer implements Producer {
  #next = 0;
  #sent = 0;
  #done = false;

  constructor(
    readonly store: Store,
    readonly keys: readonly string[],
    readonly stats: KvStats,
  ) {}

  more(): string {
    if (this.#done) return '';
    let piece = '';
    while (piece.length < DUMP_PIECE && this.#next < this.keys.length) {
      const key = this.keys[this.#next++] as string;
      const value = this.store.get(key);
      if (value === undefined) continue; // deleted since the snapshot
      piece += `${key} ${value}\n`;
      this.#sent++;
      this.stats.dumpLines++;
    }
    if (this.#next === this.keys.length && piece.length < DUMP_PIECE) {
      piece += `END ${this.#sent}\n`;
      this.#done = true;
    }
    return piece;
  }
}

/** A legacy handler class, as `asStreamHandler()` and a listener's `handleAccepted()` build it. */
export type KvChannelClass = new (options: { socket: Duplex; map: SocketMap }) => AsyncChat;

/**
 * The legacy handler class of a server whose connections share `store` and `stats`.
 *
 * @example
 * ```ts
 * const KvChannel = kvChannelClass(new Store(), newStats());
 * new KvChannel({ socket, map: this.map }); // in a listener's handleAccepted()
 * ```
 */
export function kvChannelClass(store: Store, stats: KvStats): KvChannelClass {
  return class KvChannel extends AsyncChat {
    #parts: Buffer[] = [];
    #length = 0;
    #done = false;

    constructor(options: { socket: Duplex; map: SocketMap }) {
      // The line length is checked in collectIncomingData(), as asynchat servers always did:
      // a too-long line is a client's mistake, answered, not an error of this handler.
      super({ socket: options.socket, map: options.map, maxIncoming: Infinity });
      stats.legacy++;
      this.setTerminator('\n');
    }

    // asynchat hands over a line in pieces (at most one recv() each), then foundTerminator().
    override collectIncomingData(data: Buffer): void {
      if (this.#done) return; // after QUIT or a too-long line, input is ignored
      this.#length += data.length;
      if (this.#length > MAX_LINE) {
        this.push(TOO_LONG);
        this.#finish();
        return;
      }
      this.#parts.push(data);
    }

    override foundTerminator(): void {
      if (this.#done) return;
      const line = Buffer.concat(this.#parts.splice(0)).toString('utf8');
      this.#length = 0;
      const { name, args } = parseLine(line);
      const invalid = checkCommand(name, args);
      if (invalid !== undefined) this.push(invalid);
      else this.dispatch(name, args);
    }

    /** asyncore servers look the handler up by name (`getattr(self, 'cmd_' + name)`). */
    dispatch(name: string, args: string[]): void {
      switch (name) {
        case 'SET':
          return this.cmdSet(args[0] as string, args[1] as string);
        case 'GET':
          return this.cmdGet(args[0] as string);
        case 'DEL':
          return this.cmdDel(args[0] as string);
        case 'INCR':
          return this.cmdIncr(args[0] as string);
        case 'KEYS':
          return this.cmdKeys(args[0] ?? '');
        case 'DUMP':
          return this.cmdDump(args[0] ?? '');
        default:
          return this.cmdQuit();
      }
    }

    cmdSet(key: string, value: string): void {
      store.set(key, value);
      this.push('OK\n');
    }

    cmdGet(key: string): void {
      const value = store.get(key);
      this.push(value === undefined ? 'NOT_FOUND\n' : `VALUE ${value}\n`);
    }

    cmdDel(key: string): void {
      this.push(store.delete(key) ? 'DELETED\n' : 'NOT_FOUND\n');
    }

    cmdIncr(key: string): void {
      const value = store.incr(key);
      this.push(value === undefined ? 'ERROR not an integer\n' : `INTEGER ${value}\n`);
    }

    cmdKeys(prefix: string): void {
      const keys = store.keys(prefix);
      this.push(`KEYS ${keys.length}\n${keys.map((key) => `${key}\n`).join('')}`);
    }

    cmdDump(prefix: string): void {
      this.pushWithProducer(new DumpProducer(store, store.keys(prefix), stats));
    }

    cmdQuit(): void {
      this.push('BYE\n');
      this.#finish();
    }

    override handleError(error: unknown): void {
      stats.errors.push(error);
      super.handleError(error); // logs it, then closes this connection only
    }

    // Ignore whatever follows, then close once every queued reply (a DUMP too) has been sent.
    #finish(): void {
      this.#done = true;
      this.#parts = [];
      this.setTerminator(null);
      this.closeWhenDone();
    }
  };
}
