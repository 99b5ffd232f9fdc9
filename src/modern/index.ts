/**
 * The modern layer: asyncio-style streams with async/await.
 *
 * @module
 */
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
} from './errors.js';
export {
  StreamReader,
  type FlowControlHooks,
  type ReadOptions,
  type StreamReaderOptions,
} from './reader.js';
export {
  StreamWriter,
  type ExtraInfoName,
  type Address,
  type StreamAddress,
  type StreamWriterOptions,
} from './writer.js';
export {
  fromDuplex,
  openConnection,
  type ConnectOptions,
  type FromDuplexOptions,
  type StreamPair,
} from './connection.js';
export {
  Server,
  startServer,
  type ConnectionContext,
  type ConnectionStats,
  type ServerEvents,
  type ServerOptions,
  type StreamHandler,
} from './server.js';
export { timeout } from './timeout.js';
export { TaskGroup, type TaskGroupOptions } from './task-group.js';
export { Queue, QueueEmpty, QueueFull, type QueueWaitOptions } from './queue.js';
