import net from 'node:net';
import { expect } from 'chai';
import { startMixedServer, type MixedServer } from '../../src/adapter/index.js';
import { MAX_LINE } from '../../migration-guide/examples/pairs/chat-legacy.js';
import { mixedChat } from '../../cli/mixed-chat.js';

function client(port: number): {
  socket: net.Socket;
  text: () => string;
  until(s: string): Promise<void>;
  closed: Promise<void>;
} {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setEncoding('utf8');
  let text = '';
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: string) => {
    text += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    text: () => text,
    closed,
    async until(wanted) {
      while (!text.includes(wanted)) {
        if (socket.destroyed) throw new Error(`Closed before ${wanted}: ${text}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          socket.once('close', resolve);
        });
      }
    },
  };
}

describe('cli: the mixed chat (one room, both implementations)', () => {
  let server: MixedServer | undefined;
  afterEach(async () => {
    await server?.shutdown({ timeout: 0 });
    server = undefined;
  });

  it('a legacy member and a modern member see each other join, talk and leave; an over-long line closes only its sender', async () => {
    const chat = mixedChat();
    const routes: string[] = [];
    server = await startMixedServer({
      legacy: chat.legacy,
      modern: chat.modern,
      route: ({ id }) => (id % 2 === 1 ? 'legacy' : 'modern'),
      host: '127.0.0.1',
      port: 0,
      limit: MAX_LINE,
    });
    server.on('error', () => undefined);
    server.on('route', (event) => routes.push(event.implementation));
    const { port } = server.address() as { port: number };
    const old = client(port);
    const young = client(port);
    try {
      await old.until('* welcome user');
      await young.until('* welcome user');
      expect(routes).to.deep.equal(['legacy', 'modern']);
      const oldName = /welcome (user\d+)/.exec(old.text())![1]!;
      const youngName = /welcome (user\d+)/.exec(young.text())![1]!;
      expect(oldName).to.not.equal(youngName);
      await old.until(`* ${youngName} joined\n`);
      old.socket.write('hello from the callbacks\r\n');
      await young.until(`<${oldName}> hello from the callbacks\n`);
      young.socket.write('hello from async\n');
      await old.until(`<${youngName}> hello from async\n`);
      expect(chat.members()).to.equal(2);
      young.socket.write(`${'x'.repeat(MAX_LINE + 10)}\n`);
      await young.closed;
      await old.until(`* ${youngName} left\n`);
      // The legacy side too (maxIncoming): a third connection, routed to legacy.
      const third = client(port);
      try {
        await third.until('* welcome user');
        const thirdName = /welcome (user\d+)/.exec(third.text())![1]!;
        await old.until(`* ${thirdName} joined\n`);
        third.socket.write(`${'y'.repeat(MAX_LINE + 10)}\n`);
        await third.closed;
        await old.until(`* ${thirdName} left\n`);
        expect(routes).to.deep.equal(['legacy', 'modern', 'legacy']);
      } finally {
        third.socket.destroy();
      }
      old.socket.write('/quit\n');
      await old.closed;
      expect(old.text().endsWith('* bye\n')).to.equal(true);
      expect(chat.members()).to.equal(0);
    } finally {
      old.socket.destroy();
      young.socket.destroy();
    }
  });
});
