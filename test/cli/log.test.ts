import { expect } from 'chai';
import { logConnections } from '../../cli/log.js';
import { startExample } from '../../cli/servers.js';
import { openConnection } from '../../src/modern/index.js';
import { within } from '../helpers/peers.js';

describe('dispatch-bridge serve --log', () => {
  it('prints one line per connection open, route and close, with the implementation in mixed mode', async () => {
    const lines: string[] = [];
    const stop = logConnections((line) => lines.push(line));
    const server = await startExample('kv', 'mixed', { host: '127.0.0.1', port: 0 });
    try {
      for (let i = 0; i < 2; i++) {
        const client = await openConnection({ host: '127.0.0.1', port: server.address.port });
        client.writer.write('QUIT\n');
        expect((await client.reader.readLine()).toString()).to.equal('BYE\n');
        client.writer.close();
        await client.writer.waitClosed();
      }
      await within(2_000, () => lines.filter((line) => line.includes(' close ')).length >= 2);
    } finally {
      stop();
      await server.close();
    }
    const text = lines.join('');
    expect(text).to.match(/ open mixed#1 from 127\.0\.0\.1:\d+\n/);
    expect(text).to.match(/ route mixed#1 to modern\n/);
    expect(text).to.match(/ route mixed#2 to legacy\n/);
    expect(text).to.match(/ close mixed#1 \(5 bytes in, 4 out\)\n/);
    // The legacy dispatcher behind the mixed server reports its own connection too.
    expect(text).to.match(/ open legacy#\d+ from/);
    const count = lines.length;
    stop();
    expect(lines.length, 'nothing printed once stopped').to.equal(count);
  });
});
