// Mocha root hooks shared by every spec file.
//
// An unhandled promise rejection or an uncaught exception anywhere in the process fails the test
// that was running when it surfaced: the library promises that none ever escapes.
import process from 'node:process';

const escaped: unknown[] = [];

function record(error: unknown): void {
  escaped.push(error);
}

process.on('unhandledRejection', record);

export const mochaHooks = {
  afterEach(): void {
    if (escaped.length > 0) {
      const errors = escaped.splice(0);
      throw new Error(
        `Unhandled rejection escaped during this test: ${errors.map((e) => String(e)).join('; ')}`,
      );
    }
  },
};
