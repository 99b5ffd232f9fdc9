/**
 * The modern layer: asyncio-style streams with async/await.
 *
 * @module
 */
export {
  ConnectionClosedError,
  IncompleteReadError,
  LimitOverrunError,
  TimeoutError,
} from './errors.js';
