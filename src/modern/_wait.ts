// Waiting helpers shared by the servers (internal).

/**
 * Resolves `true` once `promise` has resolved, or `false` when `ms` milliseconds pass first. The
 * timer is cleared on both paths, so nothing is left to keep the process alive.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
