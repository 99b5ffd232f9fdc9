// Internal counters, for tests only: not exported from any barrel and not part of the public API.
// Incrementing a field of a module-level object costs next to nothing on the hot path.

/**
 * `queueMoves`: how many items the legacy output queues have copied from one slot to another
 * (growth). `bytesScanned`: how many input bytes AsyncChat's terminator searches have examined.
 * Both must stay linear in the traffic: a regression to `Array.shift()` queues or rescanning
 * searches shows up here as a count, not as a timing.
 */
export const legacyStats = { queueMoves: 0, bytesScanned: 0 };
