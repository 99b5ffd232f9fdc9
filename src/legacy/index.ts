/**
 * The legacy layer: Python's asyncore/asynchat callback model in TypeScript.
 *
 * @module
 */
export {
  AbortError,
  InvalidArgumentError,
  InvalidStateError,
  LimitOverrunError,
  OutOfRangeError,
} from '../errors.js';
export { SocketMap, socketMap, closeAll } from './socket-map.js';
export { loop, type LoopOptions } from './loop.js';
export {
  Dispatcher,
  type AcceptedConnection,
  type Address,
  type DispatcherEvents,
  type DispatcherOptions,
  type LogType,
} from './dispatcher.js';
export { DispatcherWithSend } from './dispatcher-with-send.js';
export { AsyncChat, type AsyncChatOptions } from './chat.js';
export { SimpleProducer, type Producer } from './producer.js';
