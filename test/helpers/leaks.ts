// Leak checks for tests that open sockets, servers and timers: compare the process's active
// handles (process.getActiveResourcesInfo()) before and after, per resource type.
import { getEventListeners } from 'node:events';

/** The resource types whose counts {@link expectNoLeaks} compares by default. */
export const TRACKED = ['TCPServerWrap', 'TCPSocketWrap', 'PipeWrap', 'PipeServerWrap', 'Timeout'];

/** A count per resource type, e.g. `{ TCPSocketWrap: 2, Timeout: 1 }`. */
export type ResourceCounts = Record<string, number>;

/**
 * A snapshot of the active handles, counted per type. Take it after a first `await` in a test
 * (or in an async `beforeEach`): mocha arms its own timeout timer once an async test is pending,
 * and the later snapshot will count it.
 */
export function activeResources(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

function excess(before: ResourceCounts, types: readonly string[]): string[] {
  const now = activeResources();
  const problems: string[] = [];
  for (const type of types) {
    const then = before[type] ?? 0;
    const count = now[type] ?? 0;
    if (count > then) problems.push(`${type}: ${then} before, ${count} now`);
  }
  return problems;
}

/**
 * Waits until no tracked resource type has more active handles than in `before`; throws naming
 * the leaked types. It first waits a bounded number of event-loop turns (closing handles takes a
 * few), then polls for up to `settleMs` of wall time: a short timer that fires by itself (the
 * legacy loop's sweep timer lives for one sweep interval after the last handler ran) is gone by
 * then and is no leak, whereas a timer or handle nobody will release stays counted.
 *
 * @example
 * ```ts
 * const before = activeResources();
 * // ... open and close servers and sockets
 * await expectNoLeaks(before);
 * ```
 */
export async function expectNoLeaks(
  before: ResourceCounts,
  options: { types?: readonly string[]; maxTurns?: number; settleMs?: number } = {},
): Promise<void> {
  const types = options.types ?? TRACKED;
  const maxTurns = options.maxTurns ?? 200;
  const settleMs = options.settleMs ?? 1000;
  let problems = excess(before, types);
  for (let i = 0; i < maxTurns && problems.length > 0; i++) {
    await turn();
    problems = excess(before, types);
  }
  const deadline = performance.now() + settleMs;
  while (problems.length > 0 && performance.now() < deadline) {
    // An unref()'d timer is not counted by getActiveResourcesInfo(); the turn after it lets a
    // timer that fired meanwhile finish (its count drops after its callback returns).
    await new Promise<void>((resolve) => setTimeout(resolve, 5).unref());
    await turn();
    problems = excess(before, types);
  }
  if (problems.length > 0) throw new Error(`Leaked resources: ${problems.join('; ')}`);
}

function turn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** How many listeners `signal` still has for 'abort' (should be 0 once every wait settled). */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}
