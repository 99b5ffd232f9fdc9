// Mocha root hooks shared by every spec file.
//
// An unhandled promise rejection or an uncaught exception anywhere in the process fails the test
// that was running when it surfaced: the library promises that none ever escapes.
import process from 'node:process';

// A Set: mocha re-emits the same rejection to every listener, and one report is enough.
const escaped = new Set<unknown>();

function record(error: unknown): void {
  escaped.add(error);
}

process.on('unhandledRejection', record);

export const mochaHooks = {
  afterEach(): void {
    if (escaped.size > 0) {
      const errors = [...escaped];
      escaped.clear();
      throw new Error(
        `Unhandled rejection escaped during this test: ${errors.map((e) => String(e)).join('; ')}`,
      );
    }
  },
};
