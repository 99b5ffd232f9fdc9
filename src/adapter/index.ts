/**
 * The adapter layer: converts legacy handler events into awaitable streams and back.
 *
 * @module
 */
export {};
