// Child process that runs the load client, so that the client's CPU and heap are apart from both
// the server's and the orchestrator's. It answers each { type: 'run', ... } with { type: 'result' }.
import process from 'node:process';
import { bulk, pingPong } from './load.js';

type Command =
  | { type: 'ping-pong'; port: number; connections: number; messages: number; size: number }
  | { type: 'bulk'; port: number; bytes: number; chunkSize: number }
  | { type: 'exit' };

process.on('message', (command: Command) => {
  if (command.type === 'exit') {
    process.disconnect();
    return;
  }
  const work = command.type === 'ping-pong' ? pingPong(command) : bulk(command);
  work.then(
    (result) => process.send?.({ type: 'result', result }),
    (error: unknown) => process.send?.({ type: 'result', error: String(error) }),
  );
});
process.send?.({ type: 'ready' });
