/**
 * The key-value server's connection handler, modern style: one async function per connection,
 * one function per command, `DUMP` streamed with `await writer.drain()`, and `QUIT` by returning.
 * Steps 1, 2 and 3 use it. Compare with `kv-legacy.ts`: same protocol (`_kv.ts`), same bytes.
 *
 * @module
 */
import {
  ConnectionClosedError,
  LimitOverrunError,
  type StreamHandler,
  type StreamReader,
  type StreamWriter,
} from 'dispatch-bridge/modern';
import {
  DUMP_PIECE,
  MAX_LINE,
  TOO_LONG,
  checkCommand,
  parseLine,
  type KvStats,
  type Store,
} from './_kv.js';

/** What a command does with its arguments; `'quit'` ends the connection. */
type Command = (writer: StreamWriter, args: string[]) => Promise<void> | 'quit' | void;

/**
 * The async handler of a server whose connections share `store` and `stats`. Give the server (or
 * `asDispatcherClass`) `limit: MAX_LINE`, so that a too-long line is refused without being held.
 *
 * @example
 * ```ts
 * const server = await startServer(kvHandler(new Store(), newStats()), { limit: MAX_LINE });
 * ```
 */
export function kvHandler(store: Store, stats: KvStats): StreamHandler {
  const commands: Record<string, Command> = {
    SET(writer, [key, value]) {
      store.set(key as string, value as string);
      writer.write('OK\n');
    },
    GET(writer, [key]) {
      const value = store.get(key as string);
      writer.write(value === undefined ? 'NOT_FOUND\n' : `VALUE ${value}\n`);
    },
    DEL(writer, [key]) {
      writer.write(store.delete(key as string) ? 'DELETED\n' : 'NOT_FOUND\n');
    },
    INCR(writer, [key]) {
      const value = store.incr(key as string);
      writer.write(value === undefined ? 'ERROR not an integer\n' : `INTEGER ${value}\n`);
    },
    KEYS(writer, [prefix]) {
      const keys = store.keys(prefix);
      writer.write(`KEYS ${keys.length}\n${keys.map((key) => `${key}\n`).join('')}`);
    },
    // The producer becomes a loop: write a piece, wait until the client has taken it.
    async DUMP(writer, [prefix]) {
      let sent = 0;
      let piece = '';
      for (const key of store.keys(prefix)) {
        const value = store.get(key);
        if (value === undefined) continue; // deleted since the snapshot
        piece += `${key} ${value}\n`;
        sent++;
        stats.dumpLines++;
        if (piece.length >= DUMP_PIECE) {
          writer.write(piece);
          piece = '';
          await writer.drain();
        }
      }
      writer.write(`${piece}END ${sent}\n`);
    },
    QUIT(writer) {
      writer.write('BYE\n');
      return 'quit'; // returning from the handler closes the connection once BYE is sent
    },
  };

  return async (reader, writer) => {
    stats.modern++;
    try {
      await serve(reader, writer);
    } catch (error) {
      // The client went away (reset, or gone mid-DUMP): a close, as handleClose() is in legacy.
      if (!(error instanceof ConnectionClosedError)) throw error;
    }
  };

  async function serve(reader: StreamReader, writer: StreamWriter): Promise<void> {
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
      const { name, args } = parseLine(line.toString('utf8', 0, line.length - 1));
      const invalid = checkCommand(name, args);
      if (invalid !== undefined) writer.write(invalid);
      else if ((await commands[name]?.(writer, args)) === 'quit') return;
      await writer.drain();
    }
  }
}
