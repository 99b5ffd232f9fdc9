// Wires a connected socket (or any Duplex) to a StreamReader/StreamWriter pair (the job of asyncio's
// StreamReaderProtocol). Internal: used by openConnection(), fromDuplex() and the servers.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ConnectionClosedError } from './errors.js';
import { StreamReader } from './reader.js';
import { StreamWriter, onWriterClosing, type StreamWriterOptions } from './writer.js';

export interface WiredStreams {
  reader: StreamReader;
  writer: StreamWriter;
  /** Fails the reader with `error` (first error wins) and destroys the socket. */
  fail(error: unknown): void;
}

/**
 * The socket is read in flowing mode ('data' events): the fastest path. The reader's flow
 * control pauses and resumes it. A reset or error becomes a ConnectionClosedError (with the
 * socket error as `cause`) in the reader, unless end-of-stream was already received; a close
 * without end-of-stream (the socket was destroyed locally) is an end-of-stream. Once the writer
 * starts closing (close(), abort(), or the server closing it after the handler) the reader gets
 * end-of-stream and input is no longer fed to it: the lingering close discards it.
 */
export function wireSocket(
  socket: Duplex,
  limit: number | undefined,
  writerOptions?: StreamWriterOptions,
): WiredStreams {
  // Set once the reader got its end (end-of-stream, an error) or the writer started closing.
  let done = false;
  const reader = new StreamReader({
    limit,
    pause: () => {
      if (!done) socket.pause();
    },
    resume: () => {
      if (!done) socket.resume();
    },
  });
  const writer = new StreamWriter(socket, writerOptions);
  // TCP_NODELAY, as asyncio sets it: the writer already gathers small writes per tick.
  if (socket instanceof net.Socket) socket.setNoDelay(true);
  const end = (): void => {
    if (done) return;
    done = true;
    reader.feedEof();
  };
  const fail = (error: unknown): void => {
    if (!done) {
      done = true;
      reader.setException(error);
    }
    socket.destroy();
  };
  onWriterClosing(writer, end);
  socket.on('data', (chunk: Buffer) => {
    if (!done) reader.feedData(chunk);
  });
  socket.on('end', end);
  socket.on('error', (error) => {
    if (!done) {
      done = true;
      reader.setException(new ConnectionClosedError('Connection lost', { cause: error }));
    }
  });
  socket.on('close', end);
  return { reader, writer, fail };
}
