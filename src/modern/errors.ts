// The error classes live in src/errors.ts, shared by every layer; this module keeps the modern
// layer's imports short.
export {
  AbortError,
  ConnectionClosedError,
  IncompleteReadError,
  InvalidArgumentError,
  InvalidStateError,
  LimitOverrunError,
  OutOfRangeError,
  ProxyProtocolError,
  TimeoutError,
  type ProxyProtocolErrorCode,
} from '../errors.js';
