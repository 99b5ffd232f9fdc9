/**
 * The legacy layer: Python's asyncore/asynchat callback model in TypeScript.
 *
 * @module
 */
export { LimitOverrunError } from '../modern/errors.js';
