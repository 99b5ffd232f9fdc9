/**
 * dispatch-bridge: callback-style socket handlers (asyncore/asynchat) and async/await streams
 * (asyncio) in one Node.js process, and adapters from one to the other.
 *
 * Each layer is also its own entry point: `dispatch-bridge/legacy`, `dispatch-bridge/modern`,
 * `dispatch-bridge/adapter`.
 *
 * @module
 */
export * from './legacy/index.js';
export * from './modern/index.js';
export * from './adapter/index.js';
