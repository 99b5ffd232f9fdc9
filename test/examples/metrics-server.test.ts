import { expect } from 'chai';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { startMetricsExample, type MetricsExample } from '../../examples/metrics-server.js';

/** GET /metrics (or another path) from the example's endpoint. */
async function get(port: number, path = '/metrics'): Promise<{ status: number; body: string }> {
  const request = http.get({ host: '127.0.0.1', port, path });
  const [response] = (await once(request, 'response')) as [http.IncomingMessage];
  let body = '';
  response.setEncoding('utf8');
  for await (const chunk of response) body += chunk as string;
  return { status: response.statusCode ?? 0, body };
}

/** The value of one sample line, e.g. `dispatch_bridge_bytes_in_total{server="echo"}`. */
function sample(body: string, name: string, labels: string): number {
  const line = body.split('\n').find((text) => text.startsWith(`${name}{${labels}} `));
  if (line === undefined) throw new Error(`No sample ${name}{${labels}} in:\n${body}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Sends `lines`, reads back the same bytes, then ends and waits for the close. */
async function echoSession(port: number, lines: string[]): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const expected = lines.join('');
  let received = '';
  socket.setEncoding('utf8');
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (text: string) => {
      received += text;
      if (received.length >= expected.length) socket.end();
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  socket.write(expected);
  await done;
  return received;
}

describe('examples/metrics-server.ts (Prometheus /metrics over node:http)', () => {
  let example: MetricsExample | undefined;

  afterEach(async () => {
    await example?.close(0);
    example = undefined;
  });

  it('serves counters that agree with the connections a client drove', async () => {
    example = await startMetricsExample();
    const sessions = [['one\n', 'two\n'], ['three\n'], ['four\n', 'five\n', 'six\n'], ['seven\n']];
    let bytes = 0;
    for (const lines of sessions) {
      expect(await echoSession(example.port, lines)).to.equal(lines.join(''));
      bytes += Buffer.byteLength(lines.join(''));
    }
    // The server notices each close right after the client's; wait until all four are counted.
    for (let tries = 0; tries < 100 && example.server.stats().closed < sessions.length; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const { status, body } = await get(example.metricsPort);
    expect(status).to.equal(200);
    const server = 'server="echo"';
    expect(sample(body, 'dispatch_bridge_connections_accepted_total', server)).to.equal(4);
    expect(sample(body, 'dispatch_bridge_connections_closed_total', server)).to.equal(4);
    expect(sample(body, 'dispatch_bridge_connections_active', server)).to.equal(0);
    expect(sample(body, 'dispatch_bridge_bytes_in_total', server)).to.equal(bytes);
    expect(sample(body, 'dispatch_bridge_bytes_out_total', server)).to.equal(bytes);
    expect(sample(body, 'dispatch_bridge_handler_errors_total', server)).to.equal(0);
    // fraction 0.5 alternates: two connections each.
    const routed = (implementation: string): number =>
      sample(body, 'dispatch_bridge_routed_total', `${server},implementation="${implementation}"`);
    expect(routed('legacy')).to.equal(2);
    expect(routed('modern')).to.equal(2);
    expect(body).to.match(/^dispatch_bridge_event_loop_delay_p99_seconds \d/m);
  });

  it('answers other paths with 404 and closes without leaving a listener behind', async () => {
    example = await startMetricsExample();
    expect((await get(example.metricsPort, '/')).status).to.equal(404);
    const { port, metricsPort } = example;
    await example.close(0);
    example = undefined;
    for (const closed of [port, metricsPort]) {
      const socket = net.connect({ host: '127.0.0.1', port: closed });
      const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
      expect(error.code).to.equal('ECONNREFUSED');
    }
  });
});
