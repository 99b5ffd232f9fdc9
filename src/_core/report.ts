// Reporting a handler error, written once for every server (internal): the 'error' event and the
// onError option; when nobody observes either, the error is printed to stderr (once per error),
// as the legacy layer's default handleError() logs.
const printed = new WeakSet<object>();

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** Emits `'error'` and calls `onError`; prints to stderr when neither is there. */
export function reportHandlerError<Info>(
  emitter: {
    listenerCount(event: 'error'): number;
    emit(event: 'error', error: unknown, info: Info): boolean;
  },
  onError: ((error: unknown, info: Info) => void) | undefined,
  error: unknown,
  info: Info,
  layer: string,
): void {
  const observed = emitter.listenerCount('error') > 0 || onError !== undefined;
  emitter.emit('error', error, info);
  if (onError !== undefined) {
    try {
      onError(error, info);
    } catch {
      // An onError that throws must not take the server down; 'error' carried the error.
    }
  }
  if (observed) return;
  if (typeof error === 'object' && error !== null) {
    if (printed.has(error)) return;
    printed.add(error);
  }
  process.stderr.write(`dispatch-bridge: unobserved ${layer} handler error: ${describe(error)}\n`);
}
