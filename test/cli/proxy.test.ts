import net from 'node:net';
import { expect } from 'chai';
import { parseArgs, UsageError } from '../../cli/args.js';
import { startProxy } from '../../cli/proxy.js';
import { openConnection } from '../../src/modern/index.js';
import { within } from '../helpers/peers.js';
import { startPython } from '../migration-guide/_python.js';

/** The server that runs today: a kv server that answers GET with a planted difference. */
async function upstreamKv(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let pending = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      pending += text;
      let end: number;
      while ((end = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, end).replace(/\r$/, '');
        pending = pending.slice(end + 1);
        if (line.startsWith('SET ')) socket.write('OK\n');
        else if (line === 'GET planted') socket.write('VALUE from python\n');
        else if (line.startsWith('GET ')) socket.write('NOT_FOUND\n');
        else if (line === 'QUIT') socket.end('BYE\n');
      }
    });
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('dispatch-bridge proxy', () => {
  it('parses its flags, and refuses a missing or bad upstream', () => {
    expect(parseArgs(['proxy', '--upstream', '127.0.0.1:8000', '--shadow', 'kv'])).to.deep.equal({
      command: 'proxy',
      listen: { host: '127.0.0.1', port: 7000 },
      upstream: { host: '127.0.0.1', port: 8000 },
      shadow: 'kv',
    });
    expect(parseArgs(['proxy', '--upstream=[::1]:8000', '--listen', '0.0.0.0:0'])).to.deep.include({
      listen: { host: '0.0.0.0', port: 0 },
      upstream: { host: '::1', port: 8000 },
      shadow: undefined,
    });
    expect(() => parseArgs(['proxy'])).to.throw(UsageError, '--upstream');
    expect(() => parseArgs(['proxy', '--upstream', 'nowhere'])).to.throw(UsageError, 'HOST:PORT');
    expect(() => parseArgs(['proxy', '--upstream', 'a:1', '--shadow', 'chat'])).to.throw(
      UsageError,
    );
    expect(parseArgs(['serve', '--log'])).to.deep.include({ command: 'serve', log: true });
  });

  it('serves clients from the upstream and prints each divergence of the shadowing kv port', async () => {
    const target = await upstreamKv();
    const lines: string[] = [];
    const proxy = await startProxy(
      {
        listen: { host: '127.0.0.1', port: 0 },
        upstream: { host: '127.0.0.1', port: (target.address() as net.AddressInfo).port },
        shadow: 'kv',
      },
      (line) => lines.push(line),
    );
    try {
      for (const script of ['SET a 1\nGET b\nQUIT\n', 'GET planted\nQUIT\n']) {
        const client = await openConnection({ host: '127.0.0.1', port: proxy.address.port });
        client.writer.write(script);
        const reply = (await client.reader.read(-1)).toString();
        // Every answer is the upstream's.
        expect(reply).to.equal(
          script.startsWith('SET') ? 'OK\nNOT_FOUND\nBYE\n' : 'VALUE from python\nBYE\n',
        );
        client.writer.close();
      }
      await within(3_000, () => lines.some((line) => line.startsWith('divergence')));
      const divergences = lines.filter((line) => line.startsWith('divergence'));
      expect(divergences).to.have.length(1);
      expect(divergences[0]).to.match(
        /^divergence on connection 2 at byte 0: upstream "VALUE from python/,
      );
      expect(divergences[0]).to.contain('kv "NOT_FOUND');
      expect(proxy.summary()).to.match(/^2 connections, 1 diverged/);
    } finally {
      await proxy.close();
      target.close();
    }
  });

  for (const file of ['kv_asyncore.py', 'kv_asyncio.py']) {
    it(`in front of the guide's Python original (${file}), --shadow kv agrees byte for byte`, async function () {
      this.timeout(30_000);
      const python = await startPython(file);
      const lines: string[] = [];
      try {
        const proxy = await startProxy(
          { listen: { host: '127.0.0.1', port: 0 }, upstream: python.address, shadow: 'kv' },
          (line) => lines.push(line),
        );
        try {
          for (const p of ['a:', 'b:']) {
            const client = await openConnection({ host: '127.0.0.1', port: proxy.address.port });
            client.writer.write(
              `SET ${p}k v w\nINCR ${p}n\nINCR ${p}k\nKEYS ${p}\nDUMP ${p}\nDEL ${p}k\nGET ${p}k\nFOO\nQUIT\n`,
            );
            expect((await client.reader.read(-1)).toString()).to.equal(
              `OK\nINTEGER 1\nERROR not an integer\nKEYS 2\n${p}k\n${p}n\n${p}k v w\n${p}n 1\nEND 2\n` +
                'DELETED\nNOT_FOUND\nERROR unknown command\nBYE\n',
            );
            client.writer.close();
          }
        } finally {
          await proxy.close();
        }
        expect(lines).to.deep.equal([]);
        expect(proxy.summary()).to.equal(
          '2 connections, 0 diverged, 0 shadows dropped, 0 errors\n',
        );
      } finally {
        await python.close();
      }
    });
  }
});
