// Address conversions between our `Address` type and Node's `net` shapes (internal).
import type { AddressInfo } from 'node:net';

import type { Address } from '../address.js';

export type { Address };

/** Node's `server.address()` / `socket.address()` result as an `Address`, or null. */
export function toAddress(info: AddressInfo | string | object | null | undefined): Address | null {
  if (info === null || info === undefined) return null;
  if (typeof info === 'string') return { path: info };
  if ('port' in info && 'address' in info) {
    const { address, port } = info;
    return { host: address, port };
  }
  return null;
}

export function validateAddress(address: unknown, method: string): Address {
  if (typeof address === 'object' && address !== null) {
    if ('path' in address && typeof address.path === 'string' && address.path !== '') {
      return { path: address.path };
    }
    if (
      'port' in address &&
      typeof address.port === 'number' &&
      Number.isInteger(address.port) &&
      address.port >= 0 &&
      address.port <= 65535
    ) {
      const host = 'host' in address && typeof address.host === 'string' ? address.host : '';
      return { host, port: address.port };
    }
  }
  throw new TypeError(
    `Expected \`address\` of ${method}() to be { host, port } or { path }, got \`${JSON.stringify(address)}\` (${typeof address})`,
  );
}
