// Small async helpers shared by the spec files.

/** Resolves after one turn of the event loop (a `setImmediate`). */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The error `promise` rejects with; fails the test if it resolves instead. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the promise to reject');
}

/**
 * Resolves once `probe()` returns true, checking once per event-loop turn; rejects once `ms` of
 * wall time have passed without it. For a condition a timer brings about (a linger or idle
 * timeout), which a bound in turns would make depend on how fast the turns run.
 */
export async function untilWithin(ms: number, probe: () => boolean): Promise<void> {
  const deadline = performance.now() + ms;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`Condition not met within ${ms} ms`);
    await tick();
  }
}
