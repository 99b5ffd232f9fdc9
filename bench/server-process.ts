// Child process that runs one benchmark server and reports its own CPU time.
//
// Protocol over IPC: it sends { type: 'ready', port } once listening; on { type: 'mark' } it notes
// process.cpuUsage() and replies { type: 'marked' }; on { type: 'measure' } it replies { type: 'usage', cpuMicros, rssBytes,
// maxRssBytes, channelMessages? } for the time since the last mark; on { type: 'settle' } it lets the
// heap settle (a full gc a few times, when started with --expose-gc) and replies
// { type: 'settled', liveBytes } (heap used plus external memory); on { type: 'stop' } it closes and exits.
import process from 'node:process';
import { serverRows } from './servers.js';

const name = process.argv[2] ?? '';
const row = serverRows[name];
if (!row) {
  console.error(`Cannot start benchmark server: unknown row ${JSON.stringify(name)}`);
  process.exit(2);
}

const server = await row.start();
let mark = process.cpuUsage();

const gc = (globalThis as { gc?: () => void }).gc;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What the process holds once its garbage is collected: a full gc four times, 250 ms apart. */
async function settle(): Promise<{ liveBytes: number }> {
  for (let i = 0; i < 4; i++) {
    await pause(250);
    gc?.();
  }
  const { heapUsed, external } = process.memoryUsage();
  return { liveBytes: heapUsed + external };
}

process.on('message', (message: { type: string }) => {
  switch (message.type) {
    case 'mark':
      mark = process.cpuUsage();
      process.send?.({ type: 'marked' });
      break;
    case 'measure': {
      const used = process.cpuUsage(mark);
      process.send?.({
        type: 'usage',
        cpuMicros: used.user + used.system,
        rssBytes: process.memoryUsage.rss(),
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
        channelMessages: server.channelMessages?.(),
      });
      break;
    }
    case 'settle':
      void settle().then((usage) => process.send?.({ type: 'settled', ...usage }));
      break;
    case 'stop':
      void server.close();
      // Open benchmark connections may linger for a moment; the process has nothing else to do.
      setImmediate(() => process.exit(0));
      break;
  }
});
// Orphaned (the bench was stopped): nothing left to measure for.
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready', port: server.port });
