// Internal protocol between SocketMap, loop() and Dispatcher. These symbols are not re-exported
// from any barrel: user code cannot reach them, so the loop's bookkeeping stays private while the
// three classes live in separate files.

/** `map[kAdd](dispatcher)`: register a dispatcher (asyncore `add_channel`). */
export const kAdd: unique symbol = Symbol('dispatch-bridge.add');
/** `map[kDelete](dispatcher)`: unregister a dispatcher (asyncore `del_channel`). */
export const kDelete: unique symbol = Symbol('dispatch-bridge.delete');
/** `map[kBeginLoop]()` / `map[kEndLoop]()`: claim and release the map for one `loop()`. */
export const kBeginLoop: unique symbol = Symbol('dispatch-bridge.beginLoop');
export const kEndLoop: unique symbol = Symbol('dispatch-bridge.endLoop');
/** `map[kWait](ms)`: resolves on the next `wake()` or after `ms` (the loop's only wait). */
export const kWait: unique symbol = Symbol('dispatch-bridge.wait');
/** `dispatcher[kReady]()`: true when the dispatcher would be dispatched in this round. */
export const kReady: unique symbol = Symbol('dispatch-bridge.ready');
/** `dispatcher[kDispatch]()`: run the handlers that are due, each through the error wrapper. */
export const kDispatch: unique symbol = Symbol('dispatch-bridge.dispatch');
/** `dispatcher[kAtEof]()`: hook run by `recv()` at end-of-stream, just before `handleClose()`. */
export const kAtEof: unique symbol = Symbol('dispatch-bridge.atEof');
