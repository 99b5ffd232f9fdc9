// A connection's AbortController, made on first use (internal; the modern server's connections,
// asDispatcherClass() and the mixed server). A controller with its signal costs ~800 bytes of
// heap, more than the rest of an idle connection, and most handlers never look at
// `context.signal`. So a connection holds one field, an AbortSlot: before anyone asks for the
// signal, it only records whether (and why) an abort came; the controller made later starts
// aborted with that reason. Once made, the controller is the source of truth (the runner may abort
// it directly: an idle timeout, a refusal).
//
//   let slot = NOT_ABORTED;
//   slot = abortSlot(slot, reason);         // an abort: recorded, or passed to the controller
//   const controller = controllerOf(slot);  // made now (aborted if an abort came first)
//   slot = controller;                      // kept: the next controllerOf() returns it

// No abort yet, and no controller.
const NONE = Symbol('not aborted');

// An abort that came before the controller existed: its reason.
class EarlyAbort {
  constructor(readonly reason: unknown) {}
}

/** One field's worth of a lazily made AbortController (see the module comment). */
export type AbortSlot = AbortController | EarlyAbort | typeof NONE;

/** The slot of a connection that has neither a controller nor an abort yet. */
export const NOT_ABORTED: AbortSlot = NONE;

/**
 * The controller of `slot`: itself once made, else a new one (aborted with the reason of an abort
 * that came first). The caller stores it back in place of the slot.
 *
 * @example
 * ```ts
 * get controller() { return (this.#slot = controllerOf(this.#slot)); }
 * ```
 */
export function controllerOf(slot: AbortSlot): AbortController {
  if (slot instanceof AbortController) return slot;
  const controller = new AbortController();
  if (slot !== NONE) controller.abort(slot.reason);
  return controller;
}

/**
 * `slot` after an abort with `reason`: a made controller is aborted (its first reason stays), an
 * unmade one remembers the first reason. The caller stores the result back.
 */
export function abortSlot(slot: AbortSlot, reason: unknown): AbortSlot {
  if (slot instanceof AbortController) {
    slot.abort(reason);
    return slot;
  }
  return slot === NONE ? new EarlyAbort(reason) : slot;
}

/** Whether `slot` was aborted, without making its controller. */
export function slotAborted(slot: AbortSlot): boolean {
  return slot instanceof AbortController ? slot.signal.aborted : slot !== NONE;
}
