// The line echo every soak scenario serves, in both styles: asynchat's idiom and asyncio's.
import { AsyncChat, type AsyncChatOptions } from '../src/legacy/index.js';
import type { StreamHandler } from '../src/modern/index.js';

/** asynchat's line echo: collect the pieces, push the line back at its terminator. */
export class LineEcho extends AsyncChat {
  #parts: Buffer[] = [];
  constructor(options: AsyncChatOptions) {
    super(options);
    this.setTerminator('\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.#parts.push(data);
  }
  override foundTerminator(): void {
    this.push(Buffer.concat([...this.#parts.splice(0), Buffer.from('\n')]));
  }
}

/** asyncio's line echo: `for await` the lines, write each back, drain. */
export const echo: StreamHandler = async (reader, writer) => {
  for await (const line of reader) {
    writer.write(line);
    await writer.drain();
  }
};
