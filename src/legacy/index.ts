/**
 * The legacy layer: Python's asyncore/asynchat callback model in TypeScript.
 *
 * @module
 */
export { LimitOverrunError } from '../modern/errors.js';
export { SocketMap, socketMap, closeAll } from './socket-map.js';
export { loop, type LoopOptions } from './loop.js';
export {
  Dispatcher,
  DispatcherWithSend,
  type Address,
  type DispatcherEvents,
  type DispatcherOptions,
  type LogType,
} from './dispatcher.js';
export { AsyncChat, type AsyncChatOptions } from './chat.js';
export { SimpleProducer, type Producer } from './producer.js';
