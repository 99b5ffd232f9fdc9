// Internal counters, for tests only: not exported from any barrel and not part of the public API.
// Incrementing a field of a module-level object costs next to nothing on the hot path.

/** How many bytes `StreamReader` separator searches have examined since the process started. */
export const readerStats = { bytesScanned: 0 };
