// The in-memory duplex pair of the tests: src/adapter/_duplex-pair.ts with a socket's defaults.
// What one end writes, the other end reads, with real backpressure; `end()` is a half-close;
// `destroy(error)` on one end resets the other (`ECONNRESET`), and so does writing to an end that
// is gone.
import { duplexPair as pair, type DuplexPairOptions } from '../../src/adapter/_duplex-pair.js';
import type { Duplex } from 'node:stream';

export type { DuplexPairOptions };

/** Returns two connected in-memory Duplex ends: `[client, server]`. */
export function duplexPair(options: DuplexPairOptions = {}): [Duplex, Duplex] {
  return pair({ ...options, writeToGonePeer: options.writeToGonePeer ?? 'reset' });
}
