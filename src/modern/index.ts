/**
 * The modern layer: asyncio-style streams with async/await.
 *
 * @module
 */
// Every error class (src/errors.ts, through the modern layer's errors module).
export * from './errors.js';
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
