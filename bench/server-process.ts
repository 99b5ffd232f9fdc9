// Child process that runs one benchmark server and reports its own CPU time.
//
// Protocol over IPC: it sends { type: 'ready', port } once listening; on { type: 'mark' } it notes
// process.cpuUsage() and replies { type: 'marked' }; on { type: 'measure' } it replies { type: 'usage', cpuMicros, rssBytes,
// maxRssBytes, channelMessages? } for the time since the last mark; on { type: 'stop' } it closes and exits.
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
