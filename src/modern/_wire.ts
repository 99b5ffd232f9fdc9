// Wires a connected socket to a StreamReader/StreamWriter pair (the job of asyncio's
// StreamReaderProtocol). Internal: used by openConnection() and startServer().
import type net from 'node:net';
import { ConnectionClosedError } from './errors.js';
import { StreamReader } from './reader.js';
import { StreamWriter, type StreamWriterOptions } from './writer.js';

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
 * without end-of-stream (the socket was destroyed locally) is an end-of-stream.
 */
export function wireSocket(
  socket: net.Socket,
  limit: number | undefined,
  writerOptions?: StreamWriterOptions,
): WiredStreams {
  const reader = new StreamReader({
    limit,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  });
  const writer = new StreamWriter(socket, writerOptions);
  let ended = false;
  let failed = false;
  const fail = (error: unknown): void => {
    if (!failed && !ended) {
      failed = true;
      reader.setException(error);
    }
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => reader.feedData(chunk));
  socket.on('end', () => {
    ended = true;
    reader.feedEof();
  });
  socket.on('error', (error) => {
    if (!failed && !ended) {
      failed = true;
      reader.setException(new ConnectionClosedError('Connection lost', { cause: error }));
    }
  });
  socket.on('close', () => {
    if (!failed && !ended) {
      ended = true;
      reader.feedEof();
    }
  });
  return { reader, writer, fail };
}
