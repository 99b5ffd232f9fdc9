import { expect } from 'chai';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src/metrics.js';
import { openConnection, startServer } from '../src/modern/index.js';
import { within } from './helpers/peers.js';

describe('collectMetrics() (prom-client)', () => {
  it("exports a server's counters, agreeing with stats(), one series per named source", async () => {
    const registry = new Registry();
    const server = await startServer(
      async (reader, writer) => {
        writer.write(await reader.readLine());
      },
      { host: '127.0.0.1', port: 0 },
    );
    const other = await startServer(() => undefined, { host: '127.0.0.1', port: 0 });
    const stop = collectMetrics(registry, server, { name: 'echo' });
    collectMetrics(registry, other, { name: 'idle' });
    try {
      const { port } = server.address() as { port: number };
      for (let i = 0; i < 3; i++) {
        const pair = await openConnection({ host: '127.0.0.1', port });
        pair.writer.write('ping\n');
        await pair.reader.readLine();
        pair.writer.close();
        await pair.writer.waitClosed();
      }
      await within(2_000, () => server.stats().closed === 3);
      const stats = server.stats();
      const text = await registry.metrics();
      expect(text).to.contain(
        `dispatch_bridge_connections_accepted_total{server="echo"} ${stats.accepted}`,
      );
      expect(text).to.contain(`dispatch_bridge_connections_closed_total{server="echo"} 3`);
      expect(text).to.contain(`dispatch_bridge_bytes_in_total{server="echo"} ${stats.bytesIn}`);
      expect(text).to.contain(`dispatch_bridge_bytes_out_total{server="echo"} 15`);
      expect(text).to.contain('dispatch_bridge_connections_active{server="idle"} 0');
      expect(text).to.contain('# TYPE dispatch_bridge_connections_accepted_total counter');
      expect(text).to.match(/dispatch_bridge_event_loop_delay_p99_seconds \d/);
      expect(() => collectMetrics(registry, server, { name: 'echo' })).to.throw(TypeError, 'echo');
      stop();
      expect(await registry.metrics()).not.to.contain('server="echo"');
      expect(() => collectMetrics(registry, {} as never)).to.throw(TypeError, 'stats()');
    } finally {
      await Promise.all([server.shutdown(), other.shutdown()]);
    }
  });
});
