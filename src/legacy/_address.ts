// Address conversions between our `Address` type and Node's `net` shapes (internal).
import type { AddressInfo } from 'node:net';

import type { Address } from '../address.js';
import { fromAddressInfo } from '../_core/address.js';
import { describeValue } from './_bytes.js';
import { InvalidArgumentError } from '../errors.js';

export type { Address };

/** Node's `server.address()` / `socket.address()` result as an `Address`, or null. */
export function toAddress(info: AddressInfo | string | object | null | undefined): Address | null {
  // The one address rule of every layer: with `family`, IPv4-mapped peers as plain IPv4.
  return fromAddressInfo(info) ?? null;
}

/**
 * `address` checked as an {@link Address} for `method` (bind, connect); a missing host is every
 * interface.
 *
 * @throws {TypeError} If it is neither `{ host?, port }` nor `{ path }`, or `host` is not a string.
 */
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
      const host = 'host' in address ? address.host : undefined;
      if (host !== undefined && typeof host !== 'string') {
        // Not every interface: a host that is not a string is a bug of the caller's.
        throw new InvalidArgumentError(
          `Expected \`host\` of ${method}() to be a string, got \`${describeValue(host)}\` (${typeof host})`,
        );
      }
      return { host: host ?? '', port: address.port };
    }
  }
  throw new InvalidArgumentError(
    `Expected \`address\` of ${method}() to be { host, port } or { path }, got \`${JSON.stringify(address)}\` (${typeof address})`,
  );
}
