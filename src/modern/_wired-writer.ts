// The wiring's access to a StreamWriter's private state (internal, not exported from any index):
// the functions are assigned by StreamWriter's static block (writer.ts, which re-exports this
// object: import it from there, so that they are assigned before use).
import type { Duplex } from 'node:stream';
import type { OwnedSignal } from './_owned-signal.js';
import type { StreamWriter, StreamWriterOptions } from './writer.js';

/** @internal What a writer tells when it starts closing (the wiring ends its reader). */
export interface ClosingHook {
  writerClosing(): void;
}

/**
 * @internal The wiring's access to its writer (not exported from any index): `create()` makes a
 * writer that leaves the stream's `'close'` (and with `errorsToo` its `'error'`) to the wiring,
 * which tells it (`closed()`, `error()`): a listener fewer per stream; `onClosing()` calls the
 * hook once when the writer starts closing (close(), abort()); `own()` gives it the connection's
 * own signal, whose state drain() then reads from a field.
 */
export const wiredWriter = {} as {
  create(
    stream: Duplex,
    options: StreamWriterOptions | undefined,
    errorsToo: boolean,
  ): StreamWriter;
  onClosing(writer: StreamWriter, hook: ClosingHook): void;
  own(writer: StreamWriter, owned: OwnedSignal): void;
  closed(writer: StreamWriter): void;
  error(writer: StreamWriter, error: unknown): void;
};
