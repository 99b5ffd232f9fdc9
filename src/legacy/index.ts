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
  ProxyProtocolError,
  type ProxyProtocolErrorCode,
} from '../errors.js';
export type { ListenOptions } from './_listen-options.js';
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
