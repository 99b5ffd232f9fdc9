import { InvalidArgumentError, OutOfRangeError } from '../errors.js';
// Byte helpers shared by the legacy layer (internal).

/** A shared empty Buffer: what `recv()` returns when there is nothing to return. */
export const EMPTY: Buffer = Buffer.alloc(0);

/**
 * `data` as a Buffer without copying when it already is bytes; strings are encoded as UTF-8.
 * Anything else is a TypeError (asynchat issue #12523: silent coercion hides application bugs).
 */
export function toBuffer(data: unknown, method: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  throw new InvalidArgumentError(
    `Expected \`data\` of ${method}() to be a Uint8Array or a string, got \`${describeValue(data)}\` (${typeof data})`,
  );
}

export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'object':
      return value === null ? 'null' : Array.isArray(value) ? 'Array' : 'Object';
    case 'function':
      return 'Function';
    case 'symbol':
      return value.toString();
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${value}`;
    default:
      return 'undefined';
  }
}

/** Throws a RangeError unless `value` is a positive safe integer. */
export function validatePositiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new OutOfRangeError(
      `Expected \`${name}\` to be a positive integer, got \`${describeValue(value)}\` (${typeof value})`,
    );
  }
  return value;
}
