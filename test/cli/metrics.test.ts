import { expect } from 'chai';
import { parseArgs, UsageError } from '../../cli/args.js';
import { serve } from '../../cli/serve.js';
import { UnsupportedExampleError } from '../../cli/servers.js';
import { openConnection } from '../../src/modern/index.js';
import { within } from '../helpers/peers.js';

describe('dispatch-bridge serve --metrics', () => {
  it('parses the port, and refuses a bad one', () => {
    expect(parseArgs(['serve', '--metrics', '9464'])).to.deep.include({ metrics: 9464 });
    expect(() => parseArgs(['serve', '--metrics', '65536'])).to.throw(UsageError, '--metrics');
  });

  it('serves the counters of the running example at /metrics', async () => {
    const lines: string[] = [];
    const serving = await serve(
      { example: 'kv', style: 'mixed', host: '127.0.0.1', port: 0, workers: 1, metrics: 0 },
      (text) => lines.push(text),
    );
    try {
      const shown = lines.join('').match(/metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
      expect(shown, lines.join('')).not.to.equal(null);
      const client = await openConnection({ host: '127.0.0.1', port: serving.server.address.port });
      client.writer.write('QUIT\n');
      await client.reader.readLine();
      client.writer.close();
      await within(2_000, () => serving.server.connections() === 0);
      const response = await fetch(shown![1]!);
      const text = await response.text();
      expect(response.status).to.equal(200);
      expect(text).to.match(/dispatch_bridge_connections_accepted_total\{server="serve"\} [1-9]/);
      expect(text).to.contain('dispatch_bridge_routed_total{server="serve",implementation=');
    } finally {
      await serving.stop();
    }
  });

  it('refuses --metrics for a style without counters', async () => {
    const error = await serve(
      { example: 'chat', style: 'legacy', host: '127.0.0.1', port: 0, workers: 1, metrics: 9 },
      () => undefined,
      true,
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(UnsupportedExampleError);
  });
});
