import { InvalidArgumentError, OutOfRangeError } from './errors.js';
// Argument checks shared by the modern layer. Messages follow the project pattern:
// "Expected `limit` to be a positive integer, got `0` (number)".

function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'string' ? value : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  return `\`${shown}\` (${value === null ? 'null' : typeof value})`;
}

/** Throws unless `value` is an integer >= `min` (TypeError for a non-number, RangeError otherwise). */
export function checkInteger(name: string, value: unknown, min: number, what: string): number {
  if (typeof value !== 'number') {
    throw new InvalidArgumentError(`Expected \`${name}\` to be ${what}, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min) {
    throw new OutOfRangeError(`Expected \`${name}\` to be ${what}, got ${describe(value)}`);
  }
  return value;
}

/** A positive integer (>= 1). */
export function checkPositiveInteger(name: string, value: unknown): number {
  return checkInteger(name, value, 1, 'a positive integer');
}

/** A finite number of milliseconds >= 0. */
export function checkMilliseconds(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new InvalidArgumentError(
      `Expected \`${name}\` to be a non-negative number, got ${describe(value)}`,
    );
  }
  if (!Number.isFinite(value) || value < 0) {
    throw new OutOfRangeError(
      `Expected \`${name}\` to be a non-negative number, got ${describe(value)}`,
    );
  }
  return value;
}

/** An optional AbortSignal. */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(
      `Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`,
    );
  }
  return signal;
}

export { describe as describeValue };

/** A separator of readUntil(): a non-empty string or Uint8Array, as a Buffer. */
export function toSeparator(value: unknown): Buffer {
  const bytes = toBytes('separator', value, true);
  if (bytes.length === 0) {
    throw new OutOfRangeError('Expected `separator` to be non-empty, got `` (string)');
  }
  return bytes;
}

/**
 * `value` as a Buffer over the same memory (a string, when `orString`, encoded as UTF-8); throws
 * an InvalidArgumentError naming `name` for anything else.
 */
export function toBytes(name: string, value: unknown, orString = false): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (orString && typeof value === 'string') return Buffer.from(value);
  const what = orString ? 'a string or a Uint8Array' : 'a Uint8Array';
  throw new InvalidArgumentError(`Expected \`${name}\` to be ${what}, got ${describe(value)}`);
}
