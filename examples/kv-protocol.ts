// A tiny line-based key-value protocol, implemented once in each style: a legacy AsyncChat
// handler class and a modern async stream handler. The conformance suite
// (test/conformance/kv.test.ts) runs both on every kind of server and expects the same bytes
// back. (The CLI's kv — the demo, `serve --example kv`, `proxy --shadow kv` — is the migration
// guide's larger protocol, that of its Python originals: migration-guide/examples/steps/_kv.ts.)
//
//   SET k v  -> OK                 (v is the rest of the line, spaces included)
//   GET k    -> VALUE v | NOT_FOUND
//   DEL k    -> DELETED | NOT_FOUND
//   QUIT     -> BYE, then the server closes the connection
//   other    -> ERROR unknown command
//   a line longer than MAX_LINE bytes -> ERROR line too long, then the server closes
//
// Lines end with "\n"; a "\r" before it is ignored. Input after QUIT (or after an over-long line)
// is ignored. A last line without "\n" at end-of-stream is ignored.
import type { Duplex } from 'node:stream';
import { AsyncChat, LimitOverrunError, type SocketMap } from '../src/legacy/index.js';
import type { StreamHandler } from '../src/modern/index.js';

/** The longest accepted line, in bytes, without its "\n". */
export const MAX_LINE = 1024;

/** The store a server's connections share. */
export type Store = Map<string, string>;

/** One command's reply (without "\n") and whether the connection closes after it. */
export function execute(store: Store, line: string): { reply: string; close: boolean } {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const [command, key, ...rest] = text.split(' ');
  if (command === 'QUIT' && key === undefined) return { reply: 'BYE', close: true };
  if (command === 'SET' && key !== undefined && key !== '' && rest.length > 0) {
    store.set(key, rest.join(' '));
    return { reply: 'OK', close: false };
  }
  if (command === 'GET' && key !== undefined && key !== '' && rest.length === 0) {
    const value = store.get(key);
    return { reply: value === undefined ? 'NOT_FOUND' : `VALUE ${value}`, close: false };
  }
  if (command === 'DEL' && key !== undefined && key !== '' && rest.length === 0) {
    return { reply: store.delete(key) ? 'DELETED' : 'NOT_FOUND', close: false };
  }
  return { reply: 'ERROR unknown command', close: false };
}

const TOO_LONG = 'ERROR line too long\n';

/** The legacy implementation: an AsyncChat class (constructed with `{ socket, map }`). */
export function kvChatClass(
  store: Store,
): new (options: { socket: Duplex; map: SocketMap }) => AsyncChat {
  return class KvChat extends AsyncChat {
    #parts: Buffer[] = [];
    #done = false;

    constructor(options: { socket: Duplex; map: SocketMap }) {
      super({ socket: options.socket, map: options.map, maxIncoming: MAX_LINE });
      this.setTerminator('\n');
    }

    override collectIncomingData(data: Buffer): void {
      if (!this.#done) this.#parts.push(data);
    }

    override foundTerminator(): void {
      if (this.#done) return;
      const line = Buffer.concat(this.#parts).toString('utf8');
      this.#parts = [];
      const { reply, close } = execute(store, line);
      this.push(`${reply}\n`);
      if (close) this.#finish();
    }

    override handleError(error: unknown): void {
      if (this.#done) {
        this.close();
        return;
      }
      if (error instanceof LimitOverrunError) {
        this.push(TOO_LONG);
        this.#finish();
        return;
      }
      super.handleError(error);
    }

    #finish(): void {
      this.#done = true;
      this.#parts = [];
      // Whatever follows is ignored: collect it without a terminator (and without a limit).
      this.setTerminator(null);
      this.closeWhenDone();
    }
  };
}

/** The modern implementation: an async stream handler (give the server `limit: MAX_LINE`). */
export function kvHandler(store: Store): StreamHandler {
  return async (reader, writer) => {
    for (;;) {
      let line: Buffer;
      try {
        line = await reader.readLine();
      } catch (error) {
        if (!(error instanceof LimitOverrunError)) throw error;
        writer.write(TOO_LONG);
        return;
      }
      // End-of-stream, or a last line without "\n": nothing to answer.
      if (line.length === 0 || line[line.length - 1] !== 0x0a) return;
      if (line.length - 1 > MAX_LINE) {
        writer.write(TOO_LONG);
        return;
      }
      const { reply, close } = execute(store, line.subarray(0, -1).toString('utf8'));
      writer.write(`${reply}\n`);
      if (close) return;
      await writer.drain();
    }
  };
}
