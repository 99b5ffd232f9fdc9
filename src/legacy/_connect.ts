// Setup helpers of a Dispatcher (internal): the client socket of connect(), and the checks of the
// constructor's numeric options.
import net from 'node:net';
import type { Address } from './_address.js';
import { describeValue } from './_bytes.js';

/** The default of `maxOutgoing`: queued output above it stops reading. */
export const DEFAULT_MAX_OUTGOING = 1024 * 1024;

/** A client socket to `address`, bound locally to `bound`'s host/port when given. */
export function connectSocket(address: Address, bound: Address | null): net.Socket {
  if ('path' in address) return net.connect({ path: address.path, allowHalfOpen: true });
  return net.connect({
    host: address.host === '' ? 'localhost' : address.host,
    port: address.port,
    allowHalfOpen: true,
    ...(bound !== null && 'host' in bound
      ? { localAddress: bound.host || undefined, localPort: bound.port || undefined }
      : {}),
  });
}

function checkBound(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `Expected \`${name}\` to be a non-negative number or Infinity, got \`${describeValue(value)}\` (${typeof value})`,
    );
  }
  return value;
}

/** The checked `lingerTimeout` and `maxOutgoing` of the Dispatcher constructor's options. */
export function validateOptions(
  options: { lingerTimeout?: unknown; maxOutgoing?: unknown },
  defaultLinger: number,
): { lingerTimeout: number; maxOutgoing: number } {
  return {
    lingerTimeout: checkBound('lingerTimeout', options.lingerTimeout, defaultLinger),
    maxOutgoing: checkBound('maxOutgoing', options.maxOutgoing, DEFAULT_MAX_OUTGOING),
  };
}
