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
